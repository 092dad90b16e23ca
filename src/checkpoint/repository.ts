import * as os from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointFormatError } from '../errors/checkpoint-format-error.js';
import { CheckpointKeyError } from '../errors/checkpoint-key-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { ConfigError } from '../errors/config-error.js';
import { MigrationError } from '../errors/migration-error.js';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import { StorageError } from '../errors/storage-error.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import type { BackendSnapshot, RawEntry } from '../state/backend.js';
import { migrateStoredValue, missingMigration } from '../state/migrations.js';
import type { StateStore } from '../state/state-store.js';
import { systemClock, type Clock } from '../util/clock.js';
import { isErrno } from '../util/fs.js';
import {
  assertTopicPartition,
  compareTopicPartitions,
  formatTopicPartition,
  type TopicPartition,
} from '../util/topic-partition.js';
import { checkpointTime, isCheckpointId, newCheckpointId } from './checkpoint-id.js';
import { CodecWorker, SegmentFailure } from './codec-client.js';
import { checkKey, keyFingerprint, segmentAad } from './encryption.js';
import {
  decodeManifest,
  encodeManifest,
  FORMAT_NAME,
  FORMAT_VERSION,
  MANIFEST_FILE,
  MAX_MANIFEST_BYTES,
  segmentFileName,
  type Manifest,
  type ManifestEncryption,
  type ManifestPartition,
} from './manifest.js';
import { notify, type CheckpointObserver, type RestoreEvent } from './observer.js';
import { ReaderRegistry } from './readers.js';
import { readRecords, RecordPacker, transferable } from './records.js';
import { planRestore } from './restore-plan.js';
import { planRetention, resolveRetention, type RetentionPolicy } from './retention.js';
import { MAX_LEVEL, MIN_LEVEL } from './segment-codec.js';
import type { CheckpointStorage, StoredObject } from './storage.js';

/** Prefix under which quarantined checkpoints are kept: `quarantine/<id>/...`. */
export const QUARANTINE_PREFIX = 'quarantine/';
/** Object written beside a quarantined checkpoint's files, saying why and when. */
export const QUARANTINE_NOTE = 'quarantine-note';

/** Integrity of a checkpoint as far as this code can tell. */
export type CheckpointStatus = 'valid' | 'corrupt' | 'incomplete' | 'unsupported';

/** One partition of a checkpoint, as its manifest records it. */
export type CheckpointPartitionInfo = ManifestPartition;

/** A checkpoint as listed: from its manifest and the objects present. */
export interface CheckpointInfo {
  id: string;
  createdAt: Date;
  /**
   * `valid`: manifest intact and every segment present at its recorded size
   * (`verify` re-checks every byte); `corrupt`: it is not (see `reason`);
   * `incomplete`: no manifest (being written, or a write that died);
   * `unsupported`: written in a newer format.
   */
  status: CheckpointStatus;
  reason?: string;
  /** True for checkpoints under `quarantine/`. */
  quarantined: boolean;
  partitions: CheckpointPartitionInfo[];
  entries: number;
  rawBytes: number;
  /** Bytes of its objects as stored. */
  storedBytes: number;
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /** Encryption, and whether this repository holds the key. */
  encryption?: ManifestEncryption & { keyAvailable: boolean };
}

/** Options for {@link CheckpointRepository}. */
export interface CheckpointRepositoryOptions {
  storage: CheckpointStorage;
  /** AES-256 key (32 bytes): new checkpoints are encrypted with it. */
  key?: Buffer;
  /** Older keys, accepted for reading only (key rotation). */
  previousKeys?: Buffer[];
  /** zstd level of new checkpoints, -7..22; default 3. */
  compressionLevel?: number;
  /** A reader marker from another host counts for this long after its last refresh; default 10 minutes. */
  readerMarkerTtlMs?: number;
  observer?: CheckpointObserver;
  /** Time source for checkpoint ids and ages; default the system clock. */
  clock?: Clock;
}

/** Options for {@link CheckpointRepository.write}. */
export interface WriteOptions {
  /** Partitions to include; default every partition in the snapshot. Ones the snapshot lacks are left out. */
  partitions?: Iterable<TopicPartition>;
  /** Abandons the write (nothing becomes visible); rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once the id is chosen, before any byte is written. */
  onStarted?: (id: string, partitions: TopicPartition[]) => void;
}

/** Options for {@link CheckpointRepository.restore}. */
export interface RestoreOptions {
  /** Restore from this checkpoint only (no fallback); default the plan below. */
  id?: string;
  /**
   * Restore only these partitions. Default: every partition a valid
   * checkpoint holds. Without `id`, each comes from the valid checkpoint
   * holding it at the highest offset (the newest among equals), falling
   * back to the next highest (see planRestore in restore-plan.ts).
   */
  partitions?: Iterable<TopicPartition>;
  /** A listing already taken (recovery lists once per rebalance); default {@link list} now. Without `id` only. */
  listing?: readonly CheckpointInfo[];
  /**
   * A partition's local offset: only checkpoints holding it further ahead
   * are restored (recovery passes the local state's offset). Without `id` only.
   */
  aheadOf?: (tp: TopicPartition) => string | undefined;
}

/** A partition restored. */
export interface RestoredPartition extends TopicPartition {
  checkpointId: string;
  offset: string | null;
  entries: number;
  /** The checkpoint's schema version, when its values were migrated to the store's as they were restored. */
  migratedFrom?: number;
}

/** A checkpoint passed over by restore, and why. */
export interface SkippedCheckpoint {
  id: string;
  reason: string;
}

/** What a restore did. */
export interface RestoreResult {
  restored: RestoredPartition[];
  skipped: SkippedCheckpoint[];
  /** Partitions asked for that no valid checkpoint holds. */
  missing: TopicPartition[];
}

/** Result of re-reading one checkpoint. */
export interface VerifyResult {
  id: string;
  status: CheckpointStatus;
  reason?: string;
  partitions: Array<CheckpointPartitionInfo & { ok: boolean; reason?: string }>;
}

/** Options for {@link CheckpointRepository.prune}. */
export interface PruneOptions {
  /** Decide only: nothing is deleted, moved or cleaned (dead reader markers included). */
  dryRun?: boolean;
}

/** What a retention pass did (or, in a dry run, would do). */
export interface PruneResult {
  deleted: string[];
  deletedIncomplete: string[];
  quarantined: string[];
  kept: Array<{ id: string; why: string }>;
  /** Temp-file debris removed by the storage. */
  cleaned: string[];
}

/** A verified partition held in memory until every segment of a restore has passed. */
interface LoadedPartition {
  info: CheckpointInfo;
  part: CheckpointPartitionInfo;
  chunks: Buffer[];
  /** Schema version of its values. */
  schemaVersion: number;
  /** Its records migrated to the store's schema version, when older. */
  migrated?: RawEntry[];
}

/** The state store as restore uses it. */
export type RestoreTarget = Pick<StateStore, 'schemaVersion' | 'migrations' | 'replacePartition' | 'release'>;

// The main thread packs records for at most this long before yielding.
const SLICE_MS = 8;
// Chunks (1 MiB each) handed to the worker and not yet answered.
const MAX_IN_FLIGHT = 4;
// Compressed pieces waiting for the storage before the main thread stops feeding the worker.
const MAX_PENDING_WRITES = 16;
const DEFAULT_LEVEL = 3;

// A checkpoint disappeared (deleted by retention elsewhere) while being read.
class Vanished extends Error {}

/**
 * Checkpoints in a storage: writes them from a state snapshot, lists,
 * verifies, restores, exports and prunes them. Safe to share one storage
 * between processes (consumers of one group): ids never collide, visibility
 * is decided by the manifest alone, and retention respects other readers.
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

  constructor(options: CheckpointRepositoryOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('checkpoint repository options must be an object');
    const known = ['storage', 'key', 'previousKeys', 'compressionLevel', 'readerMarkerTtlMs', 'observer', 'clock'];
    for (const k of Object.keys(options)) {
      if (!known.includes(k))
        throw new ConfigError(`unknown checkpoint repository option "${k}"; known options: ${known.join(', ')}`);
    }
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
      throw new ConfigError('"previousKeys" must be an array of keys');
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
    const present = snapshot.partitions();
    let tps = present;
    if (options.partitions !== undefined) {
      const wanted = uniquePartitions(options.partitions);
      tps = present.filter((tp) => wanted.has(tpKey(tp)));
    }
    if (tps.length === 0) return undefined;
    const nowMs = this.clock.now();
    const id = newCheckpointId(nowMs);
    options.onStarted?.(id, tps);
    const signal = options.signal;
    const published: string[] = [];
    const finishing: Array<Promise<ManifestPartition>> = [];
    try {
      signal?.throwIfAborted();
      for (const tp of tps) {
        // A segment's tail (the worker's last chunks, fsync, rename) overlaps
        // with packing the next partition; at most one waits behind.
        const { finished } = await this.writeSegment(id, tp, snapshot, signal, published);
        finished.catch(() => undefined); // awaited below
        finishing.push(finished);
        if (finishing.length >= 2) await finishing[finishing.length - 2];
      }
      const parts = await Promise.all(finishing);
      const manifest: Manifest = {
        format: FORMAT_NAME,
        formatVersion: FORMAT_VERSION,
        id,
        createdAt: new Date(checkpointTime(id)).toISOString(),
        schemaVersion: snapshot.schemaVersion,
        compression: { codec: 'zstd', level: this.level },
        encryption:
          this.key === undefined
            ? { algorithm: 'none' }
            : { algorithm: 'aes-256-gcm', keyFingerprint: keyFingerprint(this.key) },
        writer: { host: os.hostname(), pid: process.pid },
        partitions: parts,
      };
      signal?.throwIfAborted();
      const bytes = encodeManifest(manifest);
      await this.publish(`${id}/${MANIFEST_FILE}`, bytes, signal);
      return this.infoFromManifest(
        manifest,
        false,
        parts.reduce((n, p) => n + p.storedBytes, bytes.length),
      );
    } catch (err) {
      // Leave nothing behind (best effort: what remains lists as incomplete
      // and retention removes it later).
      await Promise.allSettled(finishing);
      for (const key of published) await this.storage.remove(key).catch(() => undefined);
      if (signal?.aborted && err === signal.reason) throw err;
      throw this.storageError(`checkpoint ${id} was not written`, err);
    }
  }

  /** Every checkpoint outside quarantine, newest first. Reads manifests only (see {@link verify}). */
  async list(): Promise<CheckpointInfo[]> {
    return this.listUnder('');
  }

  /** Quarantined checkpoints, newest first. */
  async listQuarantined(): Promise<CheckpointInfo[]> {
    return this.listUnder(QUARANTINE_PREFIX);
  }

  /** One checkpoint (also looked for in quarantine). @throws CheckpointNotFoundError */
  async get(id: string): Promise<CheckpointInfo> {
    if (!isCheckpointId(id))
      throw new CheckpointNotFoundError(
        `${JSON.stringify(id)} is not a checkpoint id (expected e.g. 20261122T193000123Z-0123456789abcdef)`,
        String(id),
      );
    for (const prefix of ['', QUARANTINE_PREFIX]) {
      const objects = await this.listObjects(`${prefix}${id}/`);
      if (objects.length === 0) continue;
      const info = await this.describe(id, objects, prefix);
      if (info !== undefined) return info;
    }
    throw new CheckpointNotFoundError(`no checkpoint ${id} in ${this.storage.location}`, id);
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
        this.keyFor(info);
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
            await this.loadSegment(info, p, false);
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
    const skipped: SkippedCheckpoint[] = [];
    const missing: TopicPartition[] = [];
    let loaded: LoadedPartition[];
    if (options.id !== undefined) loaded = await this.loadExplicit(store, options.id, wanted, missing);
    else loaded = await this.loadPlanned(store, wanted, options, skipped, missing);

    // Every segment has passed. Values of an older schema are migrated now,
    // every partition before any is replaced: a migration that throws leaves
    // the store as it was (MigrationError).
    for (const l of loaded) if (l.schemaVersion < store.schemaVersion) this.migrate(store, l);
    // Refuse now, before touching anything, if a partition has uncommitted
    // changes (release() throws for those).
    for (const l of loaded) store.release(l.part.topic, l.part.partition);
    const restored: RestoredPartition[] = [];
    for (const l of loaded) {
      const { topic, partition, offset, entries } = l.part;
      await store.replacePartition({ topic, partition }, l.migrated ?? readRecords(l.chunks), offset ?? undefined);
      l.chunks = []; // let it go before the next partition
      l.migrated = undefined;
      const migratedFrom = l.schemaVersion < store.schemaVersion ? { migratedFrom: l.schemaVersion } : {};
      restored.push({ topic, partition, checkpointId: l.info.id, offset, entries, ...migratedFrom });
    }
    const result: RestoreResult = { restored, skipped, missing };
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
    await this.assertReadable(info);
    const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
    if (part === undefined)
      throw new CheckpointNotFoundError(`checkpoint ${id} holds no partition ${formatTopicPartition(tp)}`, id);
    this.keyFor(info);
    const release = await this.readers.acquire(id);
    let chunks: Buffer[];
    try {
      chunks = await this.loadSegment(info, part, true);
    } catch (err) {
      if (err instanceof Vanished)
        throw new CheckpointNotFoundError(`checkpoint ${id} was removed while being read`, id);
      throw err;
    } finally {
      await release();
    }
    return { partition: part, entries: { [Symbol.iterator]: () => readRecords(chunks) } };
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
  async quarantine(id: string, reason: string): Promise<boolean> {
    let moved = true;
    try {
      const objects = await this.listObjects(`${id}/`);
      const ordered = objects.map((o) => o.key).sort((a, b) => rankForMove(a) - rankForMove(b));
      for (const key of ordered) {
        try {
          await this.storage.rename(key, `${QUARANTINE_PREFIX}${key}`);
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
      await this.publish(`${QUARANTINE_PREFIX}${id}/${QUARANTINE_NOTE}`, Buffer.from(`${note}\n`));
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

  // ---- writing ----

  /**
   * Packs one partition's records and feeds them to the worker; resolves
   * once every record is handed over, with a promise of the published
   * segment (the worker's tail, the last writes and the commit).
   */
  private async writeSegment(
    id: string,
    tp: TopicPartition,
    snapshot: BackendSnapshot,
    signal: AbortSignal | undefined,
    published: string[],
  ): Promise<{ finished: Promise<ManifestPartition> }> {
    const offset = snapshot.offset(tp) ?? null;
    const file = segmentFileName(tp);
    const key = `${id}/${file}`;
    const writer = await this.storage.create(key);
    const job = this.codec.encode({
      level: this.level,
      key: this.key,
      aad: this.key === undefined ? undefined : segmentAad(id, tp, offset),
    });
    const packer = new RecordPacker();
    const acks: Array<Promise<Buffer[]>> = [];
    // Stored bytes go to the storage on their own chain, so the worker is
    // fed while the disk writes; at most MAX_PENDING_WRITES wait in memory.
    let writes: Promise<void> = Promise.resolve();
    let pendingWrites = 0;
    let writeError: unknown;
    const store = (c: Buffer): void => {
      pendingWrites++;
      writes = writes
        .then(() => (writeError === undefined ? writer.write(c) : undefined))
        .catch((err: unknown) => void (writeError ??= err))
        .finally(() => void pendingWrites--);
    };
    const drain = async (keep: number): Promise<void> => {
      while (acks.length > keep) {
        for (const c of await acks.shift()!) if (c.length > 0) store(c);
        if (pendingWrites > MAX_PENDING_WRITES) await writes;
        if (writeError !== undefined) throw writeError;
      }
    };
    const send = async (chunks: Buffer[]): Promise<void> => {
      for (const c of chunks) {
        const ack = job.push(c);
        ack.catch(() => undefined); // awaited in order by drain(); never unhandled
        acks.push(ack);
        await drain(MAX_IN_FLIGHT - 1);
      }
    };
    const fail = async (err: unknown): Promise<never> => {
      job.cancel();
      await writes; // never rejects; lets the last write settle before the abort
      await writer.abort();
      throw err;
    };
    try {
      let sliceStart = performance.now();
      let n = 0;
      for (const e of snapshot.transientEntries(tp)) {
        // each value is copied into the packer at once
        packer.add(e.key, e.value);
        if ((++n & 127) === 0) {
          await send(packer.take());
          if (performance.now() - sliceStart >= SLICE_MS) {
            await yieldToLoop();
            signal?.throwIfAborted();
            sliceStart = performance.now();
          }
        }
      }
      await send(packer.finish());
    } catch (err) {
      return fail(err);
    }
    const finished = (async () => {
      try {
        await drain(0);
        const { chunks, result } = await job.end();
        for (const c of chunks) if (c.length > 0) store(c);
        await writes;
        if (writeError !== undefined) throw writeError;
        if (result === undefined || result.rawBytes !== packer.rawBytes)
          throw new Error(`codec worker lost bytes of ${key}`);
        signal?.throwIfAborted();
        const size = await writer.commit();
        published.push(key);
        if (size !== result.storedBytes)
          throw new Error(`${key}: wrote ${size} bytes, the codec produced ${result.storedBytes}`);
        return {
          topic: tp.topic,
          partition: tp.partition,
          offset,
          entries: packer.entries,
          rawBytes: packer.rawBytes,
          storedBytes: size,
          sha256: result.sha256,
          file,
        };
      } catch (err) {
        return fail(err);
      }
    })();
    return { finished };
  }

  private async publish(key: string, bytes: Buffer, signal?: AbortSignal): Promise<void> {
    const writer = await this.storage.create(key);
    try {
      await writer.write(bytes);
      signal?.throwIfAborted();
      await writer.commit();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  private async removeCheckpoint(id: string): Promise<void> {
    const objects = await this.listObjects(`${id}/`);
    const ordered = objects.map((o) => o.key).sort((a, b) => rankForMove(a) - rankForMove(b));
    for (const key of ordered) await this.storage.remove(key);
  }

  // ---- listing ----

  private async listUnder(prefix: string): Promise<CheckpointInfo[]> {
    const byId = new Map<string, StoredObject[]>();
    for (const o of await this.listObjects(prefix)) {
      const rest = o.key.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) continue;
      const id = rest.slice(0, slash);
      if (!isCheckpointId(id)) continue;
      let list = byId.get(id);
      if (list === undefined) byId.set(id, (list = []));
      list.push(o);
    }
    const out: CheckpointInfo[] = [];
    for (const [id, objects] of byId) {
      const info = await this.describe(id, objects, prefix);
      if (info !== undefined) out.push(info);
    }
    return out.sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  private async describe(id: string, objects: StoredObject[], prefix: string): Promise<CheckpointInfo | undefined> {
    const base = `${prefix}${id}/`;
    const byName = new Map(objects.filter((o) => o.key.startsWith(base)).map((o) => [o.key.slice(base.length), o]));
    const quarantined = prefix === QUARANTINE_PREFIX;
    const storedBytes = [...byName.values()].reduce((n, o) => n + o.size, 0);
    const bare: CheckpointInfo = {
      id,
      createdAt: new Date(checkpointTime(id)),
      status: 'incomplete',
      quarantined,
      partitions: [],
      entries: 0,
      rawBytes: 0,
      storedBytes,
    };
    const manifestObject = byName.get(MANIFEST_FILE);
    if (manifestObject === undefined) {
      return {
        ...bare,
        reason: quarantined ? 'no manifest' : 'no manifest: still being written, or its write crashed or failed',
      };
    }
    if (manifestObject.size > MAX_MANIFEST_BYTES)
      return { ...bare, status: 'corrupt', reason: `manifest is ${manifestObject.size} bytes, too large to be one` };
    let manifest: Manifest;
    try {
      manifest = decodeManifest(id, await this.storage.read(manifestObject.key, { maxBytes: MAX_MANIFEST_BYTES }));
    } catch (err) {
      if (err instanceof CheckpointCorruptError) return { ...bare, status: 'corrupt', reason: err.reason };
      if (err instanceof CheckpointFormatError) return { ...bare, status: 'unsupported', reason: err.message };
      if (isErrno(err, 'ENOENT')) return undefined; // removed meanwhile
      throw this.storageError(`cannot read the manifest of checkpoint ${id}`, err);
    }
    const info = this.infoFromManifest(manifest, quarantined, storedBytes);
    for (const p of manifest.partitions) {
      const o = byName.get(p.file);
      const problem =
        o === undefined
          ? `segment ${p.file} is missing`
          : o.size !== p.storedBytes
            ? `segment ${p.file} is ${o.size} bytes, the manifest records ${p.storedBytes} (truncated or extended)`
            : undefined;
      if (problem !== undefined) {
        info.status = 'corrupt';
        info.reason = problem;
        break;
      }
    }
    return info;
  }

  private infoFromManifest(manifest: Manifest, quarantined: boolean, storedBytes: number): CheckpointInfo {
    const partitions = manifest.partitions.map((p) => ({ ...p }));
    return {
      id: manifest.id,
      createdAt: new Date(manifest.createdAt),
      status: 'valid',
      quarantined,
      partitions,
      entries: partitions.reduce((n, p) => n + p.entries, 0),
      rawBytes: partitions.reduce((n, p) => n + p.rawBytes, 0),
      storedBytes,
      manifest,
      encryption: {
        ...manifest.encryption,
        keyAvailable: manifest.encryption.algorithm === 'none' || this.keys.has(manifest.encryption.keyFingerprint),
      },
    };
  }

  // ---- reading ----

  private keyFor(info: CheckpointInfo): Buffer | undefined {
    const enc = info.manifest?.encryption;
    if (enc === undefined || enc.algorithm === 'none') return undefined;
    const key = this.keys.get(enc.keyFingerprint);
    if (key !== undefined) return key;
    const have = [...this.keys.keys()];
    throw new CheckpointKeyError(
      `checkpoint ${info.id} is encrypted with the key whose fingerprint is ${enc.keyFingerprint}; ` +
        (have.length === 0 ? 'no key was given' : `the key(s) given have fingerprint(s) ${have.join(', ')}`) +
        ' (pass that key as "key" or in "previousKeys"; nothing was read)',
      info.id,
      enc.keyFingerprint,
    );
  }

  private async assertReadable(info: CheckpointInfo): Promise<void> {
    if (info.status === 'valid') return;
    if (info.status === 'unsupported') {
      // Read the manifest again to throw the typed error with its version.
      const prefix = info.quarantined ? QUARANTINE_PREFIX : '';
      decodeManifest(
        info.id,
        await this.storage.read(`${prefix}${info.id}/${MANIFEST_FILE}`, { maxBytes: MAX_MANIFEST_BYTES }),
      );
      throw new CheckpointNotFoundError(`checkpoint ${info.id} changed while being read`, info.id);
    }
    if (info.status === 'incomplete')
      throw new CheckpointNotFoundError(`checkpoint ${info.id} is incomplete: ${info.reason}`, info.id);
    throw new CheckpointCorruptError(
      `checkpoint ${info.id} is corrupt: ${info.reason}`,
      info.id,
      info.reason ?? 'corrupt',
    );
  }

  /**
   * Streams one segment through the worker's decoder. Resolves with its
   * record chunks (if `keep`) once every check has passed.
   * @throws CheckpointCorruptError, Vanished, StorageError
   */
  private async loadSegment(info: CheckpointInfo, part: CheckpointPartitionInfo, keep: boolean): Promise<Buffer[]> {
    const key = this.keyFor(info);
    const objectKey = `${info.quarantined ? QUARANTINE_PREFIX : ''}${info.id}/${part.file}`;
    const corrupt = (reason: string): CheckpointCorruptError =>
      new CheckpointCorruptError(
        `checkpoint ${info.id} is corrupt: ${formatTopicPartition(part)}: ${reason}`,
        info.id,
        `${part.file}: ${reason}`,
      );
    const job = this.codec.decode({
      storedBytes: part.storedBytes,
      rawBytes: part.rawBytes,
      entries: part.entries,
      sha256: part.sha256,
      key,
      aad: key === undefined ? undefined : segmentAad(info.id, part, part.offset),
    });
    const out: Buffer[] = [];
    const acks: Array<Promise<Buffer[]>> = [];
    const collect = async (keepPending: number): Promise<void> => {
      while (acks.length > keepPending) {
        const chunks = await acks.shift()!;
        if (keep) out.push(...chunks);
      }
    };
    try {
      for await (const chunk of this.storage.readChunks(objectKey)) {
        const copy = transferable(chunk.length); // the read buffer may be pooled: never transfer it
        chunk.copy(copy);
        const ack = job.push(copy);
        ack.catch(() => undefined);
        acks.push(ack);
        await collect(MAX_IN_FLIGHT - 1);
      }
      await collect(0);
      const { chunks } = await job.end();
      if (keep) out.push(...chunks);
      return out;
    } catch (err) {
      job.cancel();
      if (err instanceof SegmentFailure) throw corrupt(err.reason);
      if (isErrno(err, 'ENOENT')) {
        const manifestThere = (await this.listObjects(`${info.quarantined ? QUARANTINE_PREFIX : ''}${info.id}/`)).some(
          (o) => o.key.endsWith(`/${MANIFEST_FILE}`),
        );
        if (!manifestThere) throw new Vanished(`checkpoint ${info.id} was removed while being read`);
        throw corrupt('segment is missing');
      }
      throw this.storageError(`cannot read ${objectKey}`, err);
    }
  }

  /** Verifies and loads `tps` of one checkpoint; holds a reader marker meanwhile. */
  private async loadCheckpoint(
    store: RestoreTarget,
    info: CheckpointInfo,
    tps: readonly TopicPartition[],
  ): Promise<LoadedPartition[]> {
    this.keyFor(info); // a key problem is configuration, not corruption: throw
    const schema = info.manifest!.schemaVersion;
    if (schema > store.schemaVersion) {
      throw new SchemaVersionError(
        `checkpoint ${info.id} holds state of schema version ${schema}, newer than this store's ${store.schemaVersion}; ` +
          'refusing to restore it (run the code that wrote it on this member, or restore an older checkpoint with --checkpoint)',
        schema,
        store.schemaVersion,
      );
    }
    const gap = missingMigration(schema, store.schemaVersion, store.migrations);
    if (gap !== undefined) {
      throw new SchemaVersionError(
        `checkpoint ${info.id} holds state of schema version ${schema}, the store is at ${store.schemaVersion}; ` +
          `no migration from ${gap} to ${gap + 1} is registered (give the store "migrations" from ${schema} up)`,
        schema,
        store.schemaVersion,
      );
    }
    const release = await this.readers.acquire(info.id);
    try {
      const loaded: LoadedPartition[] = [];
      for (const tp of tps) {
        const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
        loaded.push({ info, part, chunks: await this.loadSegment(info, part, true), schemaVersion: schema });
      }
      return loaded;
    } finally {
      await release();
    }
  }

  private async loadExplicit(
    store: RestoreTarget,
    id: string,
    wanted: TopicPartition[] | undefined,
    missing: TopicPartition[],
  ): Promise<LoadedPartition[]> {
    const info = await this.get(id);
    if (info.quarantined)
      throw new CheckpointNotFoundError(
        `checkpoint ${id} is in quarantine (${info.reason ?? 'corrupt'}); move it back to restore it`,
        id,
      );
    if (info.status === 'corrupt') await this.quarantine(id, info.reason ?? 'corrupt');
    await this.assertReadable(info);
    const tps = (wanted ?? info.partitions).filter((tp) => {
      const held = info.partitions.some((p) => p.topic === tp.topic && p.partition === tp.partition);
      if (!held) missing.push({ topic: tp.topic, partition: tp.partition });
      return held;
    });
    try {
      return await this.loadCheckpoint(store, info, tps);
    } catch (err) {
      if (err instanceof CheckpointCorruptError) await this.quarantine(id, err.reason);
      if (err instanceof Vanished) throw new CheckpointNotFoundError(err.message, id);
      throw err;
    }
  }

  // Executes planRestore's choices: each pending partition goes to its best
  // candidate not yet failed, grouped by checkpoint; a checkpoint that fails
  // sends its partitions on to their next candidates.
  private async loadPlanned(
    store: RestoreTarget,
    wanted: TopicPartition[] | undefined,
    options: RestoreOptions,
    skipped: SkippedCheckpoint[],
    missing: TopicPartition[],
  ): Promise<LoadedPartition[]> {
    const infos = options.listing ?? (await this.list());
    const plan = planRestore(infos, wanted, options.aheadOf === undefined ? {} : { above: options.aheadOf });
    const byId = new Map(infos.map((i) => [i.id, i]));
    for (const id of plan.passOver) await this.passOver(byId.get(id)!, skipped);
    const failed = new Set<string>();
    const loaded: LoadedPartition[] = [];
    let pending = plan.partitions.map((p) => ({
      tp: { topic: p.topic, partition: p.partition },
      candidates: p.candidates,
      next: 0,
    }));
    while (pending.length > 0) {
      const groups = new Map<string, { info: CheckpointInfo; items: typeof pending }>();
      for (const item of pending) {
        while (item.next < item.candidates.length && failed.has(item.candidates[item.next]!.id)) item.next++;
        const choice = item.candidates[item.next];
        if (choice === undefined) {
          missing.push(item.tp);
          continue;
        }
        const g = groups.get(choice.id) ?? { info: byId.get(choice.id)!, items: [] };
        g.items.push(item);
        groups.set(choice.id, g);
      }
      pending = [];
      for (const { info, items } of groups.values()) {
        try {
          loaded.push(
            ...(await this.loadCheckpoint(
              store,
              info,
              items.map((i) => i.tp),
            )),
          );
        } catch (err) {
          await this.onLoadFailure(info, err, skipped);
          failed.add(info.id);
          pending.push(...items); // on to their next candidates
        }
      }
    }
    missing.sort(compareTopicPartitions);
    return loaded.sort((a, b) => compareTopicPartitions(a.part, b.part));
  }

  // Migrates one loaded partition's values from its checkpoint's schema to
  // the store's, into memory (the chunks are let go as it goes).
  private migrate(store: RestoreTarget, l: LoadedPartition): void {
    const tp = { topic: l.part.topic, partition: l.part.partition };
    const step = { at: l.schemaVersion };
    const out: RawEntry[] = [];
    try {
      for (const raw of readRecords(l.chunks)) {
        out.push({
          key: Buffer.from(raw.key),
          value: migrateStoredValue(tp, raw, l.schemaVersion, store.schemaVersion, store.migrations, step),
        });
      }
    } catch (err) {
      throw new MigrationError(
        `restoring ${formatTopicPartition(tp)} from checkpoint ${l.info.id}: migration from schema version ${step.at} to ${step.at + 1} failed; ` +
          `nothing was restored: ${(err as Error).message}`,
        step.at,
        { cause: err },
      );
    }
    l.chunks = [];
    l.migrated = out;
  }

  // An invalid checkpoint met while looking for a valid one.
  private async passOver(info: CheckpointInfo, skipped: SkippedCheckpoint[]): Promise<void> {
    if (info.status === 'corrupt') {
      // A listing taken earlier (recovery's, per rebalance) may still show one this repository moved.
      const moved = this.quarantinedHere.has(info.id) || (await this.quarantine(info.id, info.reason ?? 'corrupt'));
      skipped.push({
        id: info.id,
        reason: `${info.reason ?? 'corrupt'}${moved ? ' (quarantined)' : ' (could not quarantine)'}`,
      });
    } else {
      skipped.push({ id: info.id, reason: `${info.reason ?? info.status} (left in place)` });
    }
  }

  private async onLoadFailure(info: CheckpointInfo, err: unknown, skipped: SkippedCheckpoint[]): Promise<void> {
    if (err instanceof CheckpointCorruptError) {
      const moved = await this.quarantine(info.id, err.reason);
      skipped.push({ id: info.id, reason: `${err.reason}${moved ? ' (quarantined)' : ' (could not quarantine)'}` });
      return;
    }
    if (err instanceof Vanished) {
      skipped.push({ id: info.id, reason: err.message });
      return;
    }
    throw err;
  }

  private async listObjects(prefix: string): Promise<StoredObject[]> {
    try {
      return await this.storage.list(prefix);
    } catch (err) {
      throw this.storageError(`cannot list checkpoints in ${this.storage.location}`, err);
    }
  }

  // Storage failures (anything with a Node-style code) become StorageError;
  // tidemark errors pass through; anything else is wrapped as is.
  private storageError(message: string, err: unknown): Error {
    if (err instanceof TidemarkError) return err;
    const code = (err as { code?: unknown } | undefined)?.code;
    const detail = err instanceof Error ? err.message : String(err);
    if (typeof code !== 'string')
      return new TidemarkError('ERR_TIDEMARK_CHECKPOINT_FAILED', `${message}: ${detail}`, { cause: err });
    const hint = code === 'ENOSPC' ? ' (the disk is full)' : code === 'EIO' ? ' (an I/O error: check the disk)' : '';
    return new StorageError(`${message}: ${detail}${hint}`, code, { cause: err });
  }
}

function tpKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}

function uniquePartitions(tps: Iterable<TopicPartition>): Map<string, TopicPartition> {
  const out = new Map<string, TopicPartition>();
  for (const tp of tps) {
    assertTopicPartition(tp?.topic, tp?.partition);
    out.set(tpKey(tp), { topic: tp.topic, partition: tp.partition });
  }
  return out;
}

// Manifest first when moving or removing a checkpoint: it stops being
// visible before any segment goes.
function rankForMove(key: string): number {
  return key.endsWith(`/${MANIFEST_FILE}`) ? 0 : 1;
}
