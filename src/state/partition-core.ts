import { StoreClosedError } from '../errors/store-closed-error.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import type { Clock } from '../util/clock.js';
import type { TopicPartition } from '../util/topic-partition.js';
import type { Backend } from './backend.js';
import type { CacheEntry } from './cache-entry.js';
import type { HotCache } from './hot-cache.js';
import type { ScopeView } from './scope-view.js';
import type { Counters } from './stats.js';

/** What every partition shares with its store (internal). */
export interface StoreContext {
  readonly backend: Backend;
  readonly cache: HotCache;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly closed: boolean;
}

/**
 * A partition's internal bookkeeping: its scopes, its queue of changes for
 * the next commit, and its counters. Shared by every view of the partition.
 */
export class PartitionCore {
  /** Entries changed since they were last captured by a commit. */
  queue: CacheEntry[] = [];
  /** Scope name -> view; "" is the partition's default scope. */
  readonly views = new Map<string, ScopeView>();
  released = false;

  constructor(
    readonly tp: TopicPartition,
    readonly ctx: StoreContext,
    readonly counters: Counters,
  ) {}

  /** Throws unless the partition can be read or written. */
  check(): void {
    if (this.ctx.closed) throw new StoreClosedError();
    if (this.released) {
      throw new TidemarkError(
        'ERR_TIDEMARK_PARTITION_RELEASED',
        `partition ${this.tp.topic}:${this.tp.partition} was released from this store; call store.partition() again`,
      );
    }
  }

  /** Marks an entry changed: out of eviction, into the next commit. */
  markDirty(e: CacheEntry): void {
    if (!e.dirty) {
      e.dirty = true;
      this.ctx.cache.removeClean(e);
      e.owner.pending.add(e);
    }
    if (!e.queued) {
      e.queued = true;
      this.queue.push(e);
    }
  }

  /** Called once a commit holding `e` at `version` is durable. */
  landed(e: CacheEntry, version: number): void {
    if (e.version !== version || !e.dirty) return;
    e.dirty = false;
    const view = e.owner;
    view.pending.delete(e);
    if (e.deleted) view.drop(e);
    else this.ctx.cache.addClean(e);
  }

  /** Puts an entry back in the queue after its commit failed. */
  requeue(e: CacheEntry): void {
    if (e.dirty && !e.queued) {
      e.queued = true;
      this.queue.push(e);
    }
  }

  /** Number of entries changed and not yet durable. */
  get dirtyCount(): number {
    let n = 0;
    for (const v of this.views.values()) n += v.pending.size;
    return n;
  }
}
