import type { CacheEntry } from './cache-entry.js';

/**
 * The store-wide bound on decoded entries held in memory. Only clean entries
 * (durably committed) are candidates for eviction; dirty ones stay until
 * their commit lands, so the cache may run over its bound between commits.
 *
 * Eviction is second-chance LRU (CLOCK): clean entries sit in a Set in the
 * order they became clean or were loaded; a read only sets a bit, so hot
 * reads never reorder anything; the evictor gives a touched entry one more
 * round before dropping it.
 */
export class HotCache {
  /** Entries currently held (clean and dirty). */
  size = 0;
  private readonly clean = new Set<CacheEntry>();

  constructor(readonly capacity: number) {}

  /** Makes a clean entry evictable, as most recent. */
  addClean(entry: CacheEntry): void {
    this.clean.add(entry);
  }

  /** Takes an entry out of eviction (it became dirty, or is being removed). */
  removeClean(entry: CacheEntry): void {
    this.clean.delete(entry);
  }

  /** Drops clean entries until the cache is within its bound or none is left; returns how many. */
  evictIfNeeded(): number {
    if (this.size <= this.capacity) return 0;
    let evicted = 0;
    for (const e of this.clean) {
      if (this.size <= this.capacity) break;
      this.clean.delete(e);
      if (e.touched) {
        e.touched = false;
        this.clean.add(e);
        continue;
      }
      e.owner.evict(e);
      evicted++;
    }
    return evicted;
  }
}
