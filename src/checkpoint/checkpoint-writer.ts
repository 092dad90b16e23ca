// Writing a checkpoint: segments through the codec pipeline, the manifest last.
import * as os from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { BackendSnapshot } from '../state/backend.js';
import type { TopicPartition } from '../util/topic-partition.js';
import { checkpointTime, newCheckpointId } from './checkpoint-id.js';
import type { CheckpointInfo, DeltaRequest, WriteOptions } from './checkpoint-types.js';
import { infoFromManifest } from './checkpoint-listing.js';
import { CodecPipeline } from './codec-pipeline.js';
import { keyFingerprint, segmentAad } from './encryption.js';
import {
  encodeManifest,
  FORMAT_NAME,
  FORMAT_VERSION,
  segmentFileName,
  type Manifest,
  type ManifestPartition,
} from './manifest.js';
import { checkpointPrefix, isManifestKey, manifestKey, objectKey } from './object-keys.js';
import { tpKey, uniquePartitions } from './partition-set.js';
import { RecordPacker } from './records.js';
import { listObjects, publishObject, storageError, type RepositoryContext } from './repository-context.js';

// The main thread packs records for at most this long before yielding.
const SLICE_MS = 8;

/**
 * Writes a checkpoint of `snapshot` (see CheckpointRepository.write):
 * segments first, each published atomically, the manifest last; on any
 * failure the segments written are removed again.
 */
export async function writeCheckpoint(
  ctx: RepositoryContext,
  snapshot: BackendSnapshot,
  options: WriteOptions,
): Promise<CheckpointInfo | undefined> {
  const present = snapshot.partitions();
  let tps = present;
  if (options.partitions !== undefined) {
    const wanted = uniquePartitions(options.partitions);
    tps = present.filter((tp) => wanted.has(tpKey(tp)));
  }
  if (tps.length === 0) return undefined;
  const nowMs = ctx.clock.now();
  const id = newCheckpointId(nowMs);
  options.onStarted?.(id, tps);
  const signal = options.signal;
  const published: string[] = [];
  const finishing: Array<Promise<ManifestPartition>> = [];
  try {
    signal?.throwIfAborted();
    const deltas = await usableDeltas(ctx, tps, options.deltas);
    for (const tp of tps) {
      // A segment's tail (the worker's last chunks, fsync, rename) overlaps
      // with packing the next partition; at most one waits behind.
      const { finished } = await writeSegment(ctx, id, tp, snapshot, signal, published, deltas.get(tpKey(tp)));
      finished.catch(() => undefined); // awaited below
      finishing.push(finished);
      // A delta segment is small: its publication (fsyncs, mostly) overlaps
      // with the next ones instead of waiting.
      if (finishing.length >= 2 && !deltas.has(tpKey(tp))) await finishing[finishing.length - 2];
    }
    const parts = await Promise.all(finishing);
    const manifest: Manifest = {
      format: FORMAT_NAME,
      formatVersion: FORMAT_VERSION,
      id,
      createdAt: new Date(checkpointTime(id)).toISOString(),
      schemaVersion: snapshot.schemaVersion,
      compression: { codec: 'zstd', level: ctx.level },
      encryption:
        ctx.key === undefined
          ? { algorithm: 'none' }
          : { algorithm: 'aes-256-gcm', keyFingerprint: keyFingerprint(ctx.key) },
      writer: { host: os.hostname(), pid: process.pid },
      partitions: parts,
    };
    signal?.throwIfAborted();
    const bytes = encodeManifest(manifest);
    await publishObject(ctx.storage, manifestKey(id), bytes, signal);
    return infoFromManifest(
      ctx,
      manifest,
      false,
      parts.reduce((n, p) => n + p.storedBytes, bytes.length),
    );
  } catch (err) {
    // Leave nothing behind (best effort: what remains lists as incomplete
    // and retention removes it later).
    await Promise.allSettled(finishing);
    for (const key of published) await ctx.storage.remove(key).catch(() => undefined);
    if (signal?.aborted && err === signal.reason) throw err;
    throw storageError(`checkpoint ${id} was not written`, err);
  }
}

/**
 * Packs one partition's records and feeds them to the worker; resolves
 * once every record is handed over, with a promise of the published
 * segment (the worker's tail, the last writes and the commit).
 */
async function writeSegment(
  ctx: RepositoryContext,
  id: string,
  tp: TopicPartition,
  snapshot: BackendSnapshot,
  signal: AbortSignal | undefined,
  published: string[],
  delta: DeltaRequest | undefined,
): Promise<{ finished: Promise<ManifestPartition> }> {
  const offset = snapshot.offset(tp) ?? null;
  const file = segmentFileName(tp);
  const key = objectKey(id, file);
  const writer = await ctx.storage.create(key);
  const job = ctx.codec.encode({
    level: ctx.level,
    key: ctx.key,
    aad: ctx.key === undefined ? undefined : segmentAad(id, tp, offset),
  });
  const packer = new RecordPacker();
  // Stored bytes go to the storage on the pipeline's sink chain, so the
  // worker is fed while the disk writes.
  const pipeline = new CodecPipeline(job, (c) => writer.write(c));
  const fail = async (err: unknown): Promise<never> => {
    await pipeline.cancel(); // lets the last write settle before the abort
    await writer.abort();
    throw err;
  };
  const send = async (chunks: Buffer[]): Promise<void> => {
    for (const c of chunks) await pipeline.push(c);
  };
  try {
    let sliceStart = performance.now();
    let n = 0;
    for (const e of delta === undefined ? snapshot.transientEntries(tp) : deltaEntries(snapshot, tp, delta)) {
      // each value is copied into the packer at once
      if (e.value === null) packer.addTombstone(e.key);
      else packer.add(e.key, e.value);
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
      const result = await pipeline.end();
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
        ...(delta === undefined
          ? { kind: 'full' as const, depth: 0, deletes: 0 }
          : { kind: 'delta' as const, base: delta.base, depth: delta.depth, deletes: packer.tombstones }),
      };
    } catch (err) {
      return fail(err);
    }
  })();
  return { finished };
}

// A delta segment's records: each changed key in key order (latin1 strings
// sort bytewise) with its value in the snapshot, or a tombstone.
function* deltaEntries(
  snapshot: BackendSnapshot,
  tp: TopicPartition,
  delta: DeltaRequest,
): Generator<{ key: Buffer; value: Buffer | null }> {
  const keys = [...delta.keys].sort();
  for (const k of keys) {
    const key = Buffer.from(k, 'latin1');
    yield { key, value: snapshot.get(tp, key) ?? null };
  }
}

// The deltas asked for whose base still has its manifest (one listing per
// base): a base deleted or quarantined meanwhile means a full segment.
async function usableDeltas(
  ctx: RepositoryContext,
  tps: readonly TopicPartition[],
  ask: WriteOptions['deltas'],
): Promise<Map<string, DeltaRequest>> {
  const out = new Map<string, DeltaRequest>();
  if (ask === undefined) return out;
  const present = new Map<string, boolean>();
  for (const tp of tps) {
    const d = ask(tp);
    if (d === undefined) continue;
    let there = present.get(d.base);
    if (there === undefined) {
      there = (await listObjects(ctx, checkpointPrefix(d.base, false))).some((o) => isManifestKey(o.key));
      present.set(d.base, there);
    }
    if (there) out.set(tpKey(tp), d);
  }
  return out;
}
