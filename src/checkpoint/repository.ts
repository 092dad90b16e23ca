import * as os from 'node:os';
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { ConfigError } from '../errors/config-error.js';
import { EncryptionKeyError } from '../errors/encryption-key-error.js';
import { checkOptions } from '../util/options.js';
import type { BackendSnapshot, RawEntry } from '../state/backend.js';
import { systemClock, type Clock } from '../util/clock.js';
import { isErrno } from '../util/fs.js';
import { assertTopicPartition, formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';
import { getCheckpoint, listCheckpoints } from './checkpoint-listing.js';
import type {
  CheckpointInfo,
  CheckpointPartitionInfo,
  CheckpointRepositoryOptions,
  PruneOptions,
  PruneResult,
  RestoreOptions,
  RestoreResult,
  RestoreTarget,
  VerifyResult,
  WriteOptions,
} from './checkpoint-types.js';
import { applyDeltas } from './chain-merge.js';
import { writeCheckpoint } from './checkpoint-writer.js';
import { CodecWorker } from './codec-client.js';
import { checkKey, keyFingerprint } from './encryption.js';
import { notify, type CheckpointObserver, type RestoreEvent } from './observer.js';
import { orderForRemoval, QUARANTINE_PREFIX, quarantinedKey, quarantineNoteKey } from './object-keys.js';
import { uniquePartitions } from './partition-set.js';
import { ReaderRegistry } from './readers.js';
import { readDeltaRecords, readRecords } from './records.js';
import { listObjects, publishObject } from './repository-context.js';
import { executeRestore, type RestoreContext } from './restore-executor.js';
import { chainResolver } from './restore-plan.js';
import { planRetention, resolveRetention, type RetentionPolicy } from './retention.js';
import { MAX_LEVEL, MIN_LEVEL } from './segment-codec.js';
import { assertReadable, keyFor, loadSegment, readSegment, Vanished } from './segment-reader.js';
import type { CheckpointStorage } from './storage.js';

export { QUARANTINE_NOTE, QUARANTINE_PREFIX } from './object-keys.js';
export type {
  CheckpointInfo,
  CheckpointPartitionInfo,
  CheckpointRepositoryOptions,
  CheckpointStatus,
  PruneOptions,
  PruneResult,
  RestoredPartition,
  RestoreOptions,
  RestoreResult,
  RestoreTarget,
  SkippedCheckpoint,
  VerifyResult,
  WriteOptions,
} from './checkpoint-types.js';

const DEFAULT_LEVEL = 3;

/**
 * Checkpoints in a storage: writes them from a state snapshot, lists,
 * verifies, restores, exports and prunes them. Safe to share one storage
 * between processes (consumers of one group): ids never collide, visibility
 * is decided by the manifest alone, and retention respects other readers.
 *
 * A thin facade: writing is checkpoint-writer.ts, listing
 * checkpoint-listing.ts, reading segment-reader.ts (through the one bounded
 * codec pipeline, codec-pipeline.ts), restore restore-plan.ts (decisions)
 * and restore-executor.ts (effects), object names object-keys.ts.
 */
export class CheckpointRepository {
  readonly storage: CheckpointStorage;
  private readonly key: Buffer | undefined;
  private readonly keys: Map<string, Buffer>;
  private readonly level: number;
  private readonly observer: CheckpointObserver | undefined;
  private readonly clock: Clock;
  private readonly readers: ReaderRegistry;
  private readonly codec = new CodecWorker();
  // Ids this repository moved to quarantine (so a stale listing does not move them twice).
  private readonly quarantinedHere = new Set<string>();
  private readonly quarantining = new Map<string, Promise<boolean>>();
  private readonly ctx: RestoreContext;

  constructor(options: CheckpointRepositoryOptions) {
    checkOptions(options, 'checkpoint repository', [
      'storage',
      'key',
      'previousKeys',
      'compressionLevel',
      'readerMarkerTtlMs',
      'observer',
      'clock',
    ]);
    const s = options.storage as Partial<CheckpointStorage> | undefined;
    if (
      s === undefined ||
      s === null ||
      typeof s.create !== 'function' ||
      typeof s.list !== 'function' ||
      typeof s.read !== 'function'
    ) {
      throw new ConfigError('"storage" must be a CheckpointStorage (e.g. new LocalDirectoryStorage({ path }))');
    }
    this.storage = options.storage;
    this.key = options.key === undefined ? undefined : checkKey(options.key, 'key');
    if (options.previousKeys !== undefined && !Array.isArray(options.previousKeys))
      throw new EncryptionKeyError('"previousKeys" must be an array of keys');
    const all = [
      ...(this.key ? [this.key] : []),
      ...(options.previousKeys ?? []).map((k, i) => checkKey(k, `previousKeys[${i}]`)),
    ];
    this.keys = new Map(all.map((k) => [keyFingerprint(k), k]));
    const level = options.compressionLevel ?? DEFAULT_LEVEL;
    if (!Number.isInteger(level) || level < MIN_LEVEL || level > MAX_LEVEL || level === 0) {
      throw new ConfigError(
        `"compressionLevel" must be an integer in ${MIN_LEVEL}..-1 or 1..${MAX_LEVEL}, got ${String(options.compressionLevel)}`,
      );
    }
    this.level = level;
    const ttl = options.readerMarkerTtlMs ?? 600_000;
    if (typeof ttl !== 'number' || !(ttl >= 1000) || !Number.isFinite(ttl)) {
      throw new ConfigError(`"readerMarkerTtlMs" must be a number >= 1000, got ${String(options.readerMarkerTtlMs)}`);
    }
    if (options.clock !== undefined && typeof options.clock?.now !== 'function')
      throw new ConfigError('"clock" must have a now() method');
    this.clock = options.clock ?? systemClock;
    this.observer = options.observer;
    this.readers = new ReaderRegistry(this.storage, ttl);
    this.ctx = {
      storage: this.storage,
      key: this.key,
      keys: this.keys,
      level: this.level,
      codec: this.codec,
      readers: this.readers,
      clock: this.clock,
      observer: this.observer,
      list: () => this.list(),
      get: (id) => this.get(id),
      quarantine: (id, reason) => this.quarantine(id, reason),
      quarantinedHere: (id) => this.quarantinedHere.has(id),
    };
  }

  /**
   * Writes a checkpoint of `snapshot` (which stays owned by the caller:
   * release it afterwards). Segments first, each published atomically, the
   * manifest last: until the manifest is in place the checkpoint lists as
   * incomplete, and on any failure the segments written are removed again.
   * Compression, encryption and hashing run in the worker thread; the main
   * thread only packs records, yielding to the event loop every few ms.
   * Resolves with the new checkpoint, or undefined when none of the
   * partitions asked for has state or an offset.
   */
  async write(snapshot: BackendSnapshot, options: WriteOptions = {}): Promise<CheckpointInfo | undefined> {
    return writeCheckpoint(this.ctx, snapshot, options);
  }

  /** Every checkpoint outside quarantine, newest first. Reads manifests only (see {@link verify}). */
  async list(): Promise<CheckpointInfo[]> {
    return listCheckpoints(this.ctx, '');
  }

  /** Quarantined checkpoints, newest first. */
  async listQuarantined(): Promise<CheckpointInfo[]> {
    return listCheckpoints(this.ctx, QUARANTINE_PREFIX);
  }

  /** One checkpoint (also looked for in quarantine). @throws CheckpointNotFoundError */
  async get(id: string): Promise<CheckpointInfo> {
    return getCheckpoint(this.ctx, id);
  }

  /**
   * Re-reads every byte of one checkpoint (or of all outside quarantine):
   * sizes, SHA-256, GCM tags, zstd frames, raw sizes, records and counts.
   * Read-only: nothing is quarantined.
   */
  async verify(id?: string): Promise<VerifyResult[]> {
    const infos = id === undefined ? await this.list() : [await this.get(id)];
    const out: VerifyResult[] = [];
    for (const info of infos) {
      const partitions: VerifyResult['partitions'] = info.partitions.map((p) => ({
        ...p,
        ok: info.status === 'valid',
      }));
      const result: VerifyResult = { id: info.id, status: info.status, partitions };
      if (info.reason !== undefined) result.reason = info.reason;
      out.push(result);
      if (info.status !== 'valid') continue;
      try {
        keyFor(this.ctx, info);
      } catch (err) {
        result.status = 'unsupported';
        result.reason = (err as Error).message;
        for (const p of partitions) p.ok = false;
        continue;
      }
      const release = await this.readers.acquire(info.id);
      try {
        for (const p of partitions) {
          try {
            await readSegment(this.ctx, info, p, () => undefined, true);
          } catch (err) {
            if (!(err instanceof CheckpointCorruptError)) throw err;
            p.ok = false;
            p.reason = err.reason;
            result.status = 'corrupt';
            result.reason ??= err.reason;
          }
        }
      } catch (err) {
        if (!(err instanceof Vanished)) throw err;
        result.status = 'incomplete';
        result.reason = err.message;
      } finally {
        await release();
      }
    }
    return out;
  }

  /**
   * Restores state from checkpoints, verifying every segment completely
   * before any state is replaced (no partial restore), then replacing each
   * partition's entries and offset in one transaction.
   *
   * - Without `id`: each partition (those named, or every one a valid
   *   checkpoint holds) from the valid checkpoint holding it at the highest
   *   offset, the newest among equals, falling back per partition to the
   *   next highest: the checkpoint recovery takes and retention keeps.
   *   Partitions no valid checkpoint holds are `missing`.
   * - `id`: that checkpoint only (no fallback).
   *
   * A checkpoint that fails verification is quarantined (renamed, never
   * deleted) and reported in `skipped`; so are newer-format ones passed over
   * (left in place). An explicit `id` that fails throws instead. A missing or
   * wrong key throws {@link CheckpointKeyError}, a schema mismatch
   * {@link SchemaVersionError}, an unreadable disk {@link StorageError}: all
   * before anything is replaced.
   */
  async restore(store: RestoreTarget, options: RestoreOptions = {}): Promise<RestoreResult> {
    const started = performance.now();
    if (typeof options !== 'object' || options === null) throw new ConfigError('restore options must be an object');
    const wanted = options.partitions === undefined ? undefined : [...uniquePartitions(options.partitions).values()];
    const result = await executeRestore(this.ctx, store, wanted, options);
    const event: RestoreEvent = { durationMs: performance.now() - started, ...result };
    notify(this.observer, 'restoreCompleted', event);
    return result;
  }

  /**
   * Reads one partition of a checkpoint, fully verified, for export and
   * inspection. The entries are the raw stored records (key and value as in
   * docs/FORMAT.md "State keys" / "State values"), held in memory.
   */
  async readEntries(
    id: string,
    tp: TopicPartition,
  ): Promise<{ partition: CheckpointPartitionInfo; entries: Iterable<RawEntry> }> {
    assertTopicPartition(tp.topic, tp.partition);
    const info = await this.get(id);
    await assertReadable(this.ctx, info);
    const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
    if (part === undefined)
      throw new CheckpointNotFoundError(`checkpoint ${id} holds no partition ${formatTopicPartition(tp)}`, id);
    keyFor(this.ctx, info);
    // A delta is read through its chain: the entries are the partition's
    // state at this checkpoint, as a restore would write them.
    let links: CheckpointInfo[] = [info];
    if (part.kind === 'delta') {
      const listing = await this.list();
      const chain = chainResolver(listing, tp)(id);
      if (typeof chain === 'string')
        throw new CheckpointNotFoundError(
          `checkpoint ${id} holds ${formatTopicPartition(tp)} as a delta whose chain is broken: ${chain}`,
          id,
        );
      links = chain.map((c) => listing.find((i) => i.id === c)!);
    }
    const loaded: Buffer[][] = [];
    for (const link of links) {
      const release = await this.readers.acquire(link.id);
      try {
        const linkPart = link.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
        loaded.push(await loadSegment(this.ctx, link, linkPart));
      } catch (err) {
        if (err instanceof Vanished)
          throw new CheckpointNotFoundError(`checkpoint ${link.id} was removed while being read`, link.id);
        throw err;
      } finally {
        await release();
      }
    }
    const [base, ...deltas] = loaded;
    return {
      partition: part,
      entries: {
        [Symbol.iterator]: () =>
          deltas.length === 0
            ? readRecords(base!)
            : applyDeltas(
                readRecords(base!),
                deltas.map((d) => readDeltaRecords(d)),
              ),
      },
    };
  }

  /**
   * Applies a retention policy (see {@link RetentionPolicy}): deletes old
   * checkpoints (manifest first, so a crash mid-way leaves an incomplete one,
   * never a damaged one that lists as valid), removes stale incomplete ones,
   * quarantines corrupt ones, and removes temp-file debris.
   */
  async prune(policy?: RetentionPolicy, options: PruneOptions = {}): Promise<PruneResult> {
    const resolved = resolveRetention(policy);
    const infos = await this.list();
    const nowMs = this.clock.now();
    const plan = planRetention(
      infos,
      resolved,
      nowMs,
      await this.readers.inUse(nowMs, { removeDead: options.dryRun !== true }),
    );
    if (options.dryRun === true) {
      return {
        deleted: plan.delete,
        deletedIncomplete: plan.deleteIncomplete,
        quarantined: plan.quarantine,
        kept: plan.keep,
        cleaned: [],
      };
    }
    const result: PruneResult = { deleted: [], deletedIncomplete: [], quarantined: [], kept: plan.keep, cleaned: [] };
    for (const id of plan.quarantine) {
      const info = infos.find((i) => i.id === id);
      if (await this.quarantine(id, info?.reason ?? 'corrupt')) result.quarantined.push(id);
    }
    for (const [ids, into] of [
      [plan.delete, result.deleted],
      [plan.deleteIncomplete, result.deletedIncomplete],
    ] as const) {
      for (const id of ids) {
        // Narrow the race with a reader that started since the plan.
        if ((await this.readers.inUse(this.clock.now())).has(id)) {
          result.kept.push({ id, why: 'being read' });
          continue;
        }
        await this.removeCheckpoint(id);
        into.push(id);
      }
    }
    if (this.storage.cleanup !== undefined) result.cleaned = await this.storage.cleanup(resolved.incompleteAfterMs);
    return result;
  }

  /**
   * Moves a checkpoint to `quarantine/<id>/` (manifest first, so it stops
   * listing at once) with a note of the reason. Never deletes. Resolves false
   * if it could not be moved (the failure is reported to the observer).
   */
  quarantine(id: string, reason: string): Promise<boolean> {
    // Partitions restored concurrently can find the same checkpoint corrupt at once: move it once.
    const inFlight = this.quarantining.get(id);
    if (inFlight !== undefined) return inFlight;
    const moving = this.moveToQuarantine(id, reason).finally(() => this.quarantining.delete(id));
    this.quarantining.set(id, moving);
    return moving;
  }

  private async moveToQuarantine(id: string, reason: string): Promise<boolean> {
    let moved = true;
    try {
      const objects = await listObjects(this.ctx, `${id}/`);
      const ordered = orderForRemoval(objects.map((o) => o.key));
      for (const key of ordered) {
        try {
          await this.storage.rename(key, quarantinedKey(key));
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
      const note = JSON.stringify({
        reason,
        at: new Date(this.clock.now()).toISOString(),
        host: os.hostname(),
        pid: process.pid,
      });
      await publishObject(this.storage, quarantineNoteKey(id), Buffer.from(`${note}\n`));
    } catch (err) {
      moved = false;
      process.emitWarning(`tidemark: could not quarantine checkpoint ${id}: ${(err as Error).message}`);
    }
    if (moved) this.quarantinedHere.add(id);
    notify(this.observer, 'corruptCheckpoint', { id, reason, quarantined: moved });
    return moved;
  }

  /** Stops the worker thread and marker refreshes. The storage stays usable by others. */
  async close(): Promise<void> {
    this.readers.close();
    await this.codec.close();
  }

  private async removeCheckpoint(id: string): Promise<void> {
    const objects = await listObjects(this.ctx, `${id}/`);
    for (const key of orderForRemoval(objects.map((o) => o.key))) await this.storage.remove(key);
  }
}
