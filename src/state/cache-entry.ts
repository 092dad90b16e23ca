import type { ScopeCodec, StateKey } from './key-codec.js';

/**
 * What the hot cache asks of the index that holds an entry (a scope view):
 * to forget an entry the cache dropped. The cache never reaches further into
 * its owner, and the owner never adds, removes or counts cache entries itself.
 */
export interface CacheEntryOwner {
  /** Encodes the owner's keys as stored (the commit writes them). */
  readonly codec: ScopeCodec;
  /**
   * The cache has dropped `entry` (`evicted`: to make room; otherwise a delete
   * that landed, or the partition released): remove it from the index.
   */
  unindex(entry: CacheEntry, evicted: boolean): void;
}

/** One key held in the hot cache (internal). */
export interface CacheEntry {
  /** The index (scope view) that holds this entry. */
  readonly owner: CacheEntryOwner;
  /** Key in the owner's index map. */
  readonly mapKey: string;
  readonly key: StateKey;
  /** Decoded value; undefined when `deleted`. */
  value: unknown;
  /** A delete not yet committed (a tombstone). */
  deleted: boolean;
  /** ms since epoch; 0 = never. */
  expiresAt: number;
  ttlMs: number;
  /** Changed since the last commit (and in its partition's queue): never evicted while true. Set by the cache only. */
  dirty: boolean;
  /** Second-chance bit for eviction (CLOCK). */
  touched: boolean;
}
