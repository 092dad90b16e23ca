import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { MigrationError } from '../errors/migration-error.js';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import { StoreClosedError } from '../errors/store-closed-error.js';
import { StoreReadOnlyError } from '../errors/store-read-only-error.js';
import { StorageError } from '../errors/storage-error.js';
import { InvalidValueError } from '../errors/invalid-value-error.js';
import { UncommittedChangesError } from '../errors/uncommitted-changes-error.js';
import { UnsupportedError } from '../errors/unsupported-error.js';
import { ensurePrivateDirSync } from '../util/fs.js';
import {
  assertTopicPartition,
  compareTopicPartitions,
  normalizeOffset,
  type PartitionOffset,
  type PartitionOffsetInput,
  type TopicPartition,
  formatTopicPartition,
  topicPartitionKey,
} from '../util/topic-partition.js';
import type {
  Backend,
  BackendSnapshot,
  PartitionStaging,
  PartitionWrite,
  PhysicalLayout,
  PhysicalStaging,
  RawEntry,
} from './backend.js';
import { ChangeTracker, type ChangeCut } from './change-tracker.js';
import { DirLock } from './dir-lock.js';
import { HotCache } from './hot-cache.js';
import { decodeKey } from './key-codec.js';
import { LmdbBackend } from './lmdb-backend.js';
import { MemoryBackend } from './memory-backend.js';
import type { MigrationContext, Migrations } from './migrations.js';
import { PartitionCore, type StoreContext } from './partition-core.js';
import { PartitionState } from './partition-state.js';
import { newCounters, type Counters, type StoreStats } from './stats.js';
import { resolveStoreOptions, type ResolvedStoreOptions, type StateStoreOptions } from './store-options.js';
import { assertStorable, decodeValue, encodeValueTransient, readExpiry } from './value-codec.js';

/** What a commit wrote. */
export interface CommitResult {
  /** Partitions written (changes and/or offsets). */
  partitions: number;
  /** Entries written or deleted. */
  entries: number;
  /** Encoded bytes written (keys and values). */
  bytes: number;
  /** Offsets recorded, one per partition given. */
  offsets: PartitionOffset[];
  /** Wall time from the call until the data was durable. */
  durationMs: number;
}

/** Options for {@link StateStore.release}. */
export interface ReleaseOptions {
  /** Drop uncommitted changes instead of refusing. */
  discard?: boolean;
}

const SWEEP_CHUNK = 4096;

/**
 * Durable per-partition key-value state for a Kafka consumer: a hot cache of
 * decoded entries in front of LMDB (or memory), with explicit commit points
 * that write every change together with each partition's next offset in one
 * transaction.
 *
 * ```ts
 * const store = await StateStore.open({ path: './state' });
 * const p = store.partition('orders', 0);
 * p.update('acct-1', (s: Acc | undefined) => ({ count: (s?.count ?? 0) + 1 }));
 * await store.commit([{ topic: 'orders', partition: 0, offset: '42' }]);
 * ```
 */
export class StateStore {
  /**
   * Partitions this store owns: opened with {@link partition} and not
   * released. Commits, sweeps and `onExpired` cover these only.
   */
  private readonly owned = new Map<string, PartitionState>();
  private readonly counters = new Map<string, Counters>();
  private readonly ctx: StoreContext & { closed: boolean };
  private carriedOffsets = new Map<string, PartitionOffset>();
  private commits = 0;
  private failedCommits = 0;
  private changes = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private closing: Promise<void> | undefined;
  private readonly tracker: ChangeTracker;

  private constructor(
    private readonly backend: Backend,
    private readonly lock: DirLock | undefined,
    private readonly options: ResolvedStoreOptions,
  ) {
    this.ctx = {
      backend,
      cache: new HotCache(options.cacheEntries),
      clock: options.clock,
      defaultTtlMs: options.defaultTtlMs,
      closed: false,
      onExpired: options.onExpired,
      readOnly: options.readOnly,
    };
    this.tracker = new ChangeTracker((tp) => backend.entryCount(tp), options.trackChangesShare);
    if (options.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweep().catch((err: unknown) => {
          process.emitWarning(`tidemark: TTL sweep failed: ${(err as Error).message}`);
        });
      }, options.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Opens a store: creates the directory (0700), takes its lock (a second
   * opener gets {@link StateLockedError} naming the holder's pid; a stale lock
   * is taken over), opens LMDB, and runs migrations if the stored schema is
   * older than `schemaVersion`.
   */
  static async open(options: StateStoreOptions): Promise<StateStore> {
    const opts = resolveStoreOptions(options);
    if (opts.backend === 'memory') {
      const backend = new MemoryBackend();
      backend.initSchema(opts.schemaVersion);
      return new StateStore(backend, undefined, opts);
    }
    const dir = path.resolve(opts.path!);
    if (opts.readOnly) {
      // Beside the owner: no lock, no migration, the stored schema as it is.
      const backend = LmdbBackend.open(dir, { maxPartitions: opts.maxPartitions, readOnly: true });
      const stored = backend.schemaVersion;
      if (stored === undefined) {
        await backend.close();
        throw new StorageError(`no tidemark state in ${dir}`, 'ENOENT');
      }
      return new StateStore(backend, undefined, { ...opts, path: dir, schemaVersion: stored, sweepIntervalMs: 0 });
    }
    ensurePrivateDirSync(dir);
    const lock = DirLock.acquire(dir);
    let backend: LmdbBackend | undefined;
    try {
      backend = LmdbBackend.open(dir, { maxPartitions: opts.maxPartitions });
      prepareSchema(backend, opts);
      return new StateStore(backend, lock, { ...opts, path: dir });
    } catch (err) {
      await backend?.close().catch(() => undefined);
      lock.release();
      throw err;
    }
  }

  /** The state directory, or undefined for the memory backend. */
  get path(): string | undefined {
    return this.options.path;
  }

  /** True when committed state survives the process (LMDB). */
  get persistent(): boolean {
    return this.backend.persistent;
  }

  /** Schema version of the stored values. */
  get schemaVersion(): number {
    return this.options.schemaVersion;
  }

  /** The migrations given at open: a restore applies them to an older checkpoint's values. */
  get migrations(): Migrations {
    return this.options.migrations;
  }

  /**
   * @internal Counts durable changes to the committed state (commits that wrote
   * something, restores, drops) since the store was opened: equal numbers
   * mean the committed state, offsets included, did not change in between.
   */
  get generation(): number {
    return this.changes;
  }

  /** True when opened with `readOnly`. */
  get readOnly(): boolean {
    return this.options.readOnly;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.ctx.closed;
  }

  /** State of one partition. Cheap: call it per record if convenient. */
  partition(topic: string, partition: number): PartitionState {
    this.checkOpen();
    const k = topicPartitionKey(topic, partition);
    let state = this.owned.get(k);
    if (state === undefined) {
      assertTopicPartition(topic, partition);
      let counters = this.counters.get(k);
      if (counters === undefined) {
        counters = newCounters();
        this.counters.set(k, counters);
      }
      state = new PartitionState(new PartitionCore({ topic, partition }, this.ctx, counters));
      this.owned.set(k, state);
    }
    return state;
  }

  /** Every partition with committed state or offset, or with changes in memory. */
  partitions(): TopicPartition[] {
    this.checkOpen();
    const all = new Map<string, TopicPartition>();
    for (const tp of this.backend.partitions()) all.set(formatTopicPartition(tp), tp);
    for (const [k, { core }] of this.owned) if (core.queue.length > 0) all.set(k, core.tp);
    return [...all.values()].sort(compareTopicPartitions);
  }

  /** Committed next offset of a partition (undefined if it has none). */
  offset(topic: string, partition: number): string | undefined {
    this.checkOpen();
    return this.backend.offset({ topic, partition });
  }

  /** Committed next offset of every partition that has one. */
  offsets(): PartitionOffset[] {
    this.checkOpen();
    const out: PartitionOffset[] = [];
    for (const tp of this.backend.partitions()) {
      const offset = this.backend.offset(tp);
      if (offset !== undefined) out.push({ topic: tp.topic, partition: tp.partition, offset });
    }
    return out;
  }

  /**
   * Writes every change made since the last commit, plus each given
   * partition's next offset, in one LMDB transaction that is durable (fdatasync)
   * before the promise resolves. The write happens synchronously inside this
   * call, so exactly the changes made before it are committed with these
   * offsets.
   *
   * If the write fails (a full disk, say) the promise rejects with
   * {@link StorageError} and nothing is lost: the changes stay in memory and go
   * out with the next commit, together with these offsets unless newer ones
   * are given. A partition released with `discard` (or replaced or dropped)
   * takes its carried offset with it. A value mutated after `put()` into something unstorable fails
   * the commit the same way, writing nothing.
   */
  async commit(offsets?: Iterable<PartitionOffsetInput>): Promise<CommitResult> {
    this.checkOpen();
    if (this.options.readOnly) throw new StoreReadOnlyError('commit');
    const started = performance.now();
    const given = new Map(this.carriedOffsets);
    for (const o of offsets ?? []) {
      assertTopicPartition(o.topic, o.partition);
      const offset = normalizeOffset(o.offset, formatTopicPartition(o));
      given.set(formatTopicPartition(o), { topic: o.topic, partition: o.partition, offset });
    }
    const writes: PartitionWrite[] = [];
    const written: PartitionCore[] = [];
    const bytes = { n: 0 };
    for (const [k, { core }] of this.owned) {
      const offset = given.get(k)?.offset;
      if (core.queue.length === 0 && offset === undefined) continue;
      writes.push(changesOf(core, offset, bytes, this.tracker));
      written.push(core);
    }
    for (const [k, o] of given) {
      if (!this.owned.has(k)) writes.push({ tp: o, size: 0, key: noKey, value: noKey, offset: o.offset });
    }
    if (writes.length > 0) {
      try {
        this.backend.write(writes);
      } catch (err) {
        this.failedCommits++;
        this.carriedOffsets = given;
        throw err;
      }
      this.changes++;
    }
    this.carriedOffsets = new Map();
    let entries = 0;
    for (const core of written) {
      entries += core.queue.length;
      core.landed();
    }
    this.ctx.cache.evictIfNeeded();
    this.commits++;
    return {
      partitions: writes.length,
      entries,
      bytes: bytes.n,
      offsets: [...given.values()],
      durationMs: performance.now() - started,
    };
  }

  /**
   * Forgets a partition's cached state (after its commit, e.g. on
   * revocation). Refuses while it has uncommitted changes unless `discard`,
   * which drops them together with any offset a failed commit carried for
   * this partition. Committed state stays on disk.
   */
  release(topic: string, partition: number, options: ReleaseOptions = {}): void {
    this.checkOpen();
    const k = topicPartitionKey(topic, partition);
    const state = this.owned.get(k);
    if (state === undefined) return;
    const core = state.core;
    const dirty = core.queue.length;
    if (dirty > 0 && options.discard !== true) {
      throw new UncommittedChangesError(topic, partition, dirty);
    }
    core.discard();
    // Offsets carried from a failed commit go with the changes they belonged
    // to; a later commit must not write them without their state.
    this.carriedOffsets.delete(k);
    for (const view of state.views.values()) view.clear();
    core.released = true;
    core.dead = true;
    this.owned.delete(k);
  }

  /**
   * Replaces a partition's whole state and offset in one transaction (restore
   * from a checkpoint). Entries are raw stored records as given by
   * {@link snapshot}. Refuses while the partition has uncommitted changes.
   */
  async replacePartition(tp: TopicPartition, entries: Iterable<RawEntry>, offset: string | undefined): Promise<void> {
    this.checkOpen();
    assertTopicPartition(tp.topic, tp.partition);
    if (this.options.readOnly) throw new StoreReadOnlyError('replace a partition');
    const off = offset === undefined ? undefined : normalizeOffset(offset, formatTopicPartition(tp));
    // Release and replace with nothing in between: a read in between would
    // cache the old state again.
    this.release(tp.topic, tp.partition);
    this.tracker.markFull(tp);
    this.backend.replacePartition(tp, entries, off);
    this.changes++;
  }

  /**
   * Starts restoring a partition aside (staging): records go in with
   * `apply`, invisible until {@link commitRestore} swaps them in; the
   * partition's current state stays as it is until then, and for good if the
   * restore is abandoned (`abort`).
   */
  beginRestore(tp: TopicPartition): PartitionStaging {
    this.checkOpen();
    assertTopicPartition(tp.topic, tp.partition);
    if (this.options.readOnly) throw new StoreReadOnlyError('restore a partition');
    return this.backend.stagePartition(tp);
  }

  /**
   * Starts restoring a partition from a physical segment of this `layout`
   * (see {@link PhysicalStaging}), or returns undefined when this store
   * cannot take one (memory, the single-environment layout, another LMDB
   * page size or layout): restore it logically with {@link beginRestore}.
   */
  beginPhysicalRestore(tp: TopicPartition, layout: PhysicalLayout): PhysicalStaging | undefined {
    this.checkOpen();
    assertTopicPartition(tp.topic, tp.partition);
    if (this.options.readOnly) throw new StoreReadOnlyError('restore a partition');
    return this.backend.stagePhysical?.(tp, layout);
  }

  /**
   * Swaps staged partitions in, each with its offset, in one transaction.
   * Refuses (nothing swapped) while any of them has uncommitted changes.
   */
  async commitRestore(items: ReadonlyArray<{ staging: PartitionStaging; offset: string | undefined }>): Promise<void> {
    this.checkOpen();
    const normalized = items.map((i) => ({
      staging: i.staging,
      offset: i.offset === undefined ? undefined : normalizeOffset(i.offset, formatTopicPartition(i.staging.tp)),
    }));
    // What staging wrote goes to disk off the main thread first; then the
    // swap's own sync is short.
    await this.backend.flushStaged?.();
    this.checkOpen();
    // Release and swap with nothing in between: a read in between would
    // cache the old state again.
    for (const i of items) this.release(i.staging.tp.topic, i.staging.tp.partition);
    // A restored partition's next checkpoint is a full one.
    for (const i of items) this.tracker.markFull(i.staging.tp);
    this.backend.commitStaged(normalized);
    this.changes++;
  }

  /** @internal Deletes a partition's state and offset (durably). Refuses while it has uncommitted changes. */
  async dropPartition(tp: TopicPartition): Promise<void> {
    this.checkOpen();
    if (this.options.readOnly) throw new StoreReadOnlyError('drop a partition');
    this.release(tp.topic, tp.partition);
    this.tracker.markFull(tp);
    this.backend.dropPartition(tp);
    this.changes++;
  }

  /**
   * A consistent read-only view of the committed state: every partition's
   * entries and offset as of one transaction, unaffected by later commits.
   * Call `release()` when done (it pins old pages in LMDB until then).
   */
  async snapshot(): Promise<BackendSnapshot> {
    this.checkOpen();
    return this.backend.snapshot();
  }

  /**
   * @internal A snapshot for a checkpoint, with the keys each partition
   * changed since the last checkpoint written from this store (taken at the
   * same instant). Settle the cut: `written(id, partitions)` once the
   * checkpoint is published, `abandoned()` otherwise.
   */
  async checkpointSnapshot(): Promise<{ snapshot: BackendSnapshot; cut: ChangeCut }> {
    this.checkOpen();
    const snapshot = this.backend.snapshot();
    return { snapshot, cut: this.tracker.cut(snapshot.partitions()) };
  }

  /**
   * Removes expired entries (as deletes that land with the next commit);
   * returns how many. Runs by itself every `sweepIntervalMs`; yields to the
   * event loop between chunks.
   */
  sweep(): Promise<number> {
    this.checkOpen();
    if (this.options.readOnly) return Promise.resolve(0); // hidden on read, removed by the owner
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /** Counters per partition, and cache figures. */
  stats(): StoreStats {
    this.checkOpen();
    const tps = new Map<string, TopicPartition>();
    for (const tp of this.backend.partitions()) tps.set(formatTopicPartition(tp), tp);
    for (const [k, { core }] of this.owned) tps.set(k, core.tp);
    let dirty = 0;
    for (const { core } of this.owned.values()) dirty += core.queue.length;
    return {
      partitions: [...tps.entries()]
        .sort((a, b) => compareTopicPartitions(a[1], b[1]))
        .map(([k, tp]) => ({
          topic: tp.topic,
          partition: tp.partition,
          ...(this.counters.get(k) ?? newCounters()),
          entries: this.backend.entryCount(tp),
        })),
      cachedEntries: this.ctx.cache.size,
      dirtyEntries: dirty,
      commits: this.commits,
      failedCommits: this.failedCommits,
    };
  }

  /**
   * Physical copy of the LMDB environment (LMDB's consistent backup) into
   * one file at `targetFile`, which must not exist yet (lmdb-js 3.5.6 writes
   * a file, not a directory, and fails with "File exists").
   */
  async backup(targetFile: string): Promise<void> {
    this.checkOpen();
    if (this.backend.backup === undefined) throw new UnsupportedError('the memory backend has no files to back up');
    await this.backend.backup(targetFile);
  }

  /**
   * Waits for commits in flight, closes LMDB and releases the directory lock.
   * Changes never committed are dropped, as in a crash: commit first.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
      await this.sweeping?.catch(() => undefined);
      this.ctx.closed = true;
      for (const { core } of this.owned.values()) core.dead = true;
      this.owned.clear();
      try {
        await this.backend.close();
      } finally {
        this.lock?.release();
      }
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.ctx.closed || this.closing !== undefined) throw new StoreClosedError();
  }

  // Owned partitions only (opened with partition() and not released): a
  // partition another member owns is its business, and a change left in one
  // this store does not own would refuse its restore. A partition released
  // (or released and opened again) while the sweep yields is left alone.
  private async runSweep(): Promise<number> {
    const now = this.ctx.clock.now();
    let removed = 0;
    for (const [k, state] of [...this.owned]) {
      if (this.ctx.closed || this.closing !== undefined) break;
      if (this.owned.get(k) !== state) continue;
      for (const view of [...state.views.values()]) removed += view.expireCached(now);
      let seen = 0;
      for (const raw of this.backend.range(state.core.tp, {})) {
        const exp = readExpiry(raw.value);
        if (exp !== 0 && now >= exp) {
          const { scope, key } = decodeKey(raw.key);
          if (state.scope(scope).expireIfDue(key, now)) removed++;
        }
        if (++seen % SWEEP_CHUNK === 0) {
          await yieldToLoop();
          if (this.ctx.closed || this.closing !== undefined) return removed;
          if (this.owned.get(k) !== state) break;
        }
      }
    }
    return removed;
  }
}

const noKey = (): never => {
  throw new Error('no changes');
};

// A partition's queued changes as a backend write, encoded on demand inside
// the backend's transaction.
function changesOf(
  core: PartitionCore,
  offset: string | undefined,
  bytes: { n: number },
  tracker: ChangeTracker,
): PartitionWrite {
  const queue = core.queue;
  const where = formatTopicPartition(core.tp);
  return {
    tp: core.tp,
    size: queue.length,
    offset,
    key: (i) => {
      const e = queue[i]!;
      const k = e.owner.codec.encode(e.key);
      bytes.n += k.length;
      // Recorded before the write is known to succeed: a key recorded for a
      // failed commit only adds a record (its current value) to the next delta.
      tracker.record(core.tp, k);
      return k;
    },
    value: (i) => {
      const e = queue[i]!;
      if (e.deleted) return null;
      let v: Buffer;
      try {
        assertStorable(e.value, e.key);
        v = encodeValueTransient(e.value, e.expiresAt, e.ttlMs);
      } catch (err) {
        throw new InvalidValueError(
          `commit refused, nothing written: the value of key ${JSON.stringify(String(e.key))} in ${where}` +
            ` was changed after put() into something that cannot be stored: ${(err as Error).message}`,
          { cause: err },
        );
      }
      bytes.n += v.length;
      return v;
    },
  };
}

function prepareSchema(backend: Backend, opts: ResolvedStoreOptions): void {
  const stored = backend.schemaVersion;
  const target = opts.schemaVersion;
  if (stored === undefined) {
    backend.initSchema(target);
    return;
  }
  if (stored === target) return;
  if (stored > target) {
    throw new SchemaVersionError(
      `state in ${opts.path} was written by schema version ${stored}, newer than this code's ${target}; ` +
        'refusing to read it (deploy the newer code, or restore an older checkpoint)',
      stored,
      target,
    );
  }
  for (let v = stored; v < target; v++) {
    if (opts.migrations[v] === undefined) {
      throw new SchemaVersionError(
        `state in ${opts.path} is at schema version ${stored}; no migration from ${v} to ${v + 1} is registered`,
        stored,
        target,
      );
    }
  }
  let at = stored;
  try {
    backend.migrate(target, (tp, raw) => {
      const { scope, key } = decodeKey(raw.key);
      const decoded = decodeValue(raw.value);
      let value = decoded.value;
      for (at = stored; at < target; at++) {
        const ctx: MigrationContext = { topic: tp.topic, partition: tp.partition, scope, key };
        value = opts.migrations[at]!(value, ctx);
        if (value === undefined) throw new Error(`migration returned undefined for key ${JSON.stringify(String(key))}`);
      }
      assertStorable(value, key);
      return encodeValueTransient(value, decoded.expiresAt, decoded.ttlMs);
    });
  } catch (err) {
    throw new MigrationError(
      `migration from schema version ${at} to ${at + 1} failed; the store is unchanged at version ${stored}: ${(err as Error).message}`,
      at,
      { cause: err },
    );
  }
}
