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
  /** Changed since the last durable commit: never evicted while true. */
  dirty: boolean;
  /** In the partition's queue of changes for the next commit. */
  queued: boolean;
  /** Bumped on every change; lets a commit tell whether it wrote the latest value. */
  version: number;
  /** Second-chance bit for eviction (CLOCK). */
  touched: boolean;
}
