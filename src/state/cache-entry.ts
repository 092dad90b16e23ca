import type { StateKey } from './key-codec.js';
import type { ScopeView } from './scope-view.js';

/** One key held in the hot cache (internal). */
export interface CacheEntry {
  /** The scope view whose index holds this entry. */
  readonly owner: ScopeView;
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
  /** Changed since the last commit (and in its partition's queue): never evicted while true. */
  dirty: boolean;
  /** Second-chance bit for eviction (CLOCK). */
  touched: boolean;
}
