import type { CacheEntry } from './cache-entry.js';

/**
 * The store-wide bound on decoded entries held in memory. Every cached entry
 * sits in one Set in the order it was loaded or created; only clean entries
 * (durably committed) can be evicted, dirty ones stay until their commit
 * lands, so the cache may run over its bound between commits.
 *
 * Eviction is second-chance LRU (CLOCK): reads and writes only set a bit,
 * so the hot path never reorders anything; the evictor moves a touched or
 * dirty entry to the back and drops the first clean, untouched one. The
 * evictor's position (a live Set iterator: the clock hand) persists between
 * calls, so each entry is looked at once per lap rather than once per call
 * (a fresh iterator per call went quadratic with many dirty entries).
 */
export class HotCache {
  /** Entries currently held (clean and dirty). */
  size = 0;
  /** Entries changed and not yet committed, store-wide. */
  dirty = 0;
  private readonly order = new Set<CacheEntry>();
  private hand: Iterator<CacheEntry> | undefined;

  constructor(readonly capacity: number) {}

  /** Registers a new entry as the most recent. */
  add(entry: CacheEntry): void {
    this.order.add(entry);
    this.size++;
  }

  /** Forgets an entry (evicted, released, or a tombstone that landed). */
  remove(entry: CacheEntry): void {
    if (this.order.delete(entry)) this.size--;
  }

  /**
   * Drops clean entries until `room` more fit within the bound, or no clean
   * entry is left; returns how many were dropped.
   */
  evictIfNeeded(room = 0): number {
    const target = this.capacity - room;
    let evicted = 0;
    // Passed over without dropping anything: bounded, so a cache full of
    // touched or dirty entries costs one lap, not a loop.
    let budget = this.size * 2;
    while (this.size > target && this.size > this.dirty && budget-- > 0) {
      let next = this.hand?.next();
      if (next === undefined || next.done === true) {
        this.hand = this.order.values();
        next = this.hand.next();
        if (next.done === true) break;
      }
      const e = next.value;
      if (e.touched || e.dirty) {
        // Second chance: to the back of the line. A dirty entry is passed over.
        e.touched = false;
        this.order.delete(e);
        this.order.add(e);
        continue;
      }
      e.owner.evict(e);
      evicted++;
    }
    return evicted;
  }
}
