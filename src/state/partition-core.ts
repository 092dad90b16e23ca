import { StoreClosedError } from '../errors/store-closed-error.js';
import { StoreReadOnlyError } from '../errors/store-read-only-error.js';
import { PartitionReleasedError } from '../errors/partition-released-error.js';
import type { Clock } from '../util/clock.js';
import type { TopicPartition } from '../util/topic-partition.js';
import type { Backend } from './backend.js';
import type { CacheEntry } from './cache-entry.js';
import type { StateKey } from './key-codec.js';
import type { HotCache } from './hot-cache.js';
import type { Counters } from './stats.js';

/** An entry found expired and removed (on read or by the sweep), with its last value. */
export interface ExpiredEntry {
  readonly topic: string;
  readonly partition: number;
  /** Scope name; "" for the partition's default scope. */
  readonly scope: string;
  readonly key: StateKey;
  readonly value: unknown;
  /** When it expired, ms since the epoch (the store's clock). */
  readonly expiresAt: number;
}

/** What every partition shares with its store (internal). */
export interface StoreContext {
  readonly backend: Backend;
  readonly cache: HotCache;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly closed: boolean;
  readonly onExpired: ((entry: ExpiredEntry) => void) | undefined;
  readonly readOnly: boolean;
}

/**
 * A partition's internal bookkeeping: its queue of changes for the next
 * commit and its counters. Shared by every view of the partition; the cache
 * entries themselves belong to the store's {@link HotCache}.
 */
export class PartitionCore {
  /** Entries changed since the last commit, in the order first changed. */
  queue: CacheEntry[] = [];
  /** Set once the partition is released or the store closed: every call then checks why. */
  dead = false;
  released = false;
  readonly cache: HotCache;
  readonly clock: Clock;
  readonly defaultTtlMs: number;
  readonly readOnly: boolean;

  constructor(
    readonly tp: TopicPartition,
    readonly ctx: StoreContext,
    readonly counters: Counters,
  ) {
    this.cache = ctx.cache;
    this.clock = ctx.clock;
    this.defaultTtlMs = ctx.defaultTtlMs;
    this.readOnly = ctx.readOnly;
  }

  /** Throws unless the partition can be written. */
  checkWritable(what: string): void {
    this.check();
    if (this.readOnly) throw new StoreReadOnlyError(what);
  }

  /** Throws unless the partition can be read or written. */
  check(): void {
    if (this.ctx.closed) throw new StoreClosedError();
    if (this.released) {
      throw new PartitionReleasedError(this.tp.topic, this.tp.partition);
    }
  }

  /** Marks an entry changed: pinned in the cache, queued for the next commit. */
  markDirty(e: CacheEntry): void {
    this.cache.markDirty(e);
    this.queue.push(e);
  }

  /** After a durable commit: every queued entry is clean again (tombstones leave the cache). */
  landed(): void {
    const cache = this.cache;
    for (const e of this.queue) {
      cache.markClean(e);
      if (e.deleted) cache.remove(e);
    }
    this.queue = [];
  }

  /** Tells the store's `onExpired` listener, if any, about an expired entry; a throwing listener is reported, not raised. */
  expired(scope: string, key: StateKey, value: () => unknown, expiresAt: number): void {
    this.counters.expirations++;
    const listener = this.ctx.onExpired;
    if (listener === undefined) return;
    try {
      listener({ topic: this.tp.topic, partition: this.tp.partition, scope, key, value: value(), expiresAt });
    } catch (err) {
      process.emitWarning(`tidemark: onExpired listener threw: ${(err as Error).message}`);
    }
  }

  /** Drops the queue without committing it (the partition is released with `discard`). */
  discard(): void {
    for (const e of this.queue) this.cache.markClean(e);
    this.queue = [];
  }
}
