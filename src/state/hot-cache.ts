import type { CacheEntry } from './cache-entry.js';

/**
 * The store-wide bound on decoded entries held in memory, and the only code
 * that adds, removes and counts them: an entry is in the cache exactly while
 * it is in `order`, and `size` is that Set's size. When the cache drops an
 * entry it tells the entry's owner ({@link CacheEntryOwner.unindex}) so the
 * owner's index forgets it too. Only clean entries (durably committed) can be
 * evicted; dirty ones stay until their commit lands, so the cache may run
 * over its bound between commits.
 *
 * Eviction is second-chance LRU (CLOCK): reads and writes only set a bit,
 * so the hot path never reorders anything; the evictor moves a touched or
 * dirty entry to the back and drops the first clean, untouched one. The
 * evictor's position (a live Set iterator: the clock hand) persists between
 * calls, so each entry is looked at once per lap rather than once per call
 * (a fresh iterator per call went quadratic with many dirty entries).
 */
export class HotCache {
  private readonly order = new Set<CacheEntry>();
  private hand: Iterator<CacheEntry> | undefined;
  private dirtyEntries = 0;

  constructor(readonly capacity: number) {}

  /** Entries currently held (clean and dirty). */
  get size(): number {
    return this.order.size;
  }

  /** Entries changed and not yet committed, store-wide. */
  get dirty(): number {
    return this.dirtyEntries;
  }

  /** Registers a new entry as the most recent, evicting first if the cache is full. */
  add(entry: CacheEntry): void {
    if (this.order.size >= this.capacity) this.evictIfNeeded(1);
    this.order.add(entry);
  }

  /** Drops an entry (a delete that landed, or its partition released) and tells its owner. */
  remove(entry: CacheEntry): void {
    if (!this.order.delete(entry)) return;
    this.markClean(entry);
    entry.owner.unindex(entry, false);
  }

  /** Marks an entry changed: pinned until {@link markClean}. */
  markDirty(entry: CacheEntry): void {
    entry.touched = true;
    if (entry.dirty) return;
    entry.dirty = true;
    this.dirtyEntries++;
  }

  /** Unpins an entry (its commit landed, or its change was discarded). */
  markClean(entry: CacheEntry): void {
    if (!entry.dirty) return;
    entry.dirty = false;
    this.dirtyEntries--;
  }

  /**
   * Drops clean entries until `room` more fit within the bound, or no clean
   * entry is left; returns how many were dropped.
   */
  evictIfNeeded(room = 0): number {
    const order = this.order;
    const target = this.capacity - room;
    let evicted = 0;
    // Passed over without dropping anything: bounded, so a cache full of
    // touched or dirty entries costs one lap, not a loop.
    let budget = order.size * 2;
    while (order.size > target && order.size > this.dirtyEntries && budget-- > 0) {
      let next = this.hand?.next();
      if (next === undefined || next.done === true) {
        this.hand = order.values();
        next = this.hand.next();
        if (next.done === true) break;
      }
      const e = next.value;
      if (e.touched || e.dirty) {
        // Second chance: to the back of the line. A dirty entry is passed over.
        e.touched = false;
        order.delete(e);
        order.add(e);
        continue;
      }
      order.delete(e);
      e.owner.unindex(e, true);
      evicted++;
    }
    return evicted;
  }
}
