// Reading a checkpoint's segments back through the codec pipeline, verified.
import { createHash } from 'node:crypto';
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointKeyError } from '../errors/checkpoint-key-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { isErrno } from '../util/fs.js';
import { formatTopicPartition } from '../util/topic-partition.js';
import { SegmentFailure } from './codec-client.js';
import { type ChunkSink, CodecPipeline } from './codec-pipeline.js';
import type { CheckpointInfo, CheckpointPartitionInfo } from './checkpoint-types.js';
import { segmentAad } from './encryption.js';
import { decodeManifest, MAX_MANIFEST_BYTES } from './manifest.js';
import { checkpointPrefix, isManifestKey, manifestKey, objectKey } from './object-keys.js';
import { transferable } from './records.js';
import { listObjects, storageError, type RepositoryContext } from './repository-context.js';

/** A checkpoint disappeared (deleted by retention elsewhere) while being read. */
export class Vanished extends Error {}

/** The key a checkpoint was encrypted with, undefined if it is not. @throws CheckpointKeyError */
export function keyFor(ctx: Pick<RepositoryContext, 'keys'>, info: CheckpointInfo): Buffer | undefined {
  const enc = info.manifest?.encryption;
  if (enc === undefined || enc.algorithm === 'none') return undefined;
  const key = ctx.keys.get(enc.keyFingerprint);
  if (key !== undefined) return key;
  const have = [...ctx.keys.keys()];
  throw new CheckpointKeyError(
    `checkpoint ${info.id} is encrypted with the key whose fingerprint is ${enc.keyFingerprint}; ` +
      (have.length === 0 ? 'no key was given' : `the key(s) given have fingerprint(s) ${have.join(', ')}`) +
      ' (pass that key as "key" or in "previousKeys"; nothing was read)',
    info.id,
    enc.keyFingerprint,
  );
}

/** Throws the typed error of a checkpoint that cannot be read (not valid). */
export async function assertReadable(ctx: RepositoryContext, info: CheckpointInfo): Promise<void> {
  if (info.status === 'valid') return;
  if (info.status === 'unsupported') {
    // Read the manifest again to throw the typed error with its version.
    decodeManifest(
      info.id,
      await ctx.storage.read(manifestKey(info.id, info.quarantined), { maxBytes: MAX_MANIFEST_BYTES }),
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
 * Streams one segment through the worker's decoder into `sink` (verified
 * record chunks, whole records each, in order; bounded by the pipeline's
 * limits). Resolves once every check has passed: until then, what the sink
 * received is unverified as a whole (the hash covers the segment).
 * `sinkReleasesChunks`: the sink keeps no reference to a chunk (or any view
 * of it) once its promise settles, so the chunk's buffer is given back to
 * the worker and decoded into again (fewer fresh pages, less collection).
 * @throws CheckpointCorruptError, Vanished, StorageError, or what the sink throws
 */
export async function readSegment(
  ctx: RepositoryContext,
  info: CheckpointInfo,
  part: CheckpointPartitionInfo,
  sink: ChunkSink,
  sinkReleasesChunks = false,
): Promise<void> {
  const key = keyFor(ctx, info);
  const segmentKey = objectKey(info.id, part.file, info.quarantined);
  const corrupt = (reason: string): CheckpointCorruptError =>
    new CheckpointCorruptError(
      `checkpoint ${info.id} is corrupt: ${formatTopicPartition(part)}: ${reason}`,
      info.id,
      `${part.file}: ${reason}`,
    );
  const job = ctx.codec.decode({
    storedBytes: part.storedBytes,
    rawBytes: part.rawBytes,
    entries: part.entries,
    sha256: part.sha256,
    key,
    aad: key === undefined ? undefined : segmentAad(info.id, part, part.offset),
    delta: part.kind === 'delta',
    deletes: part.deletes,
    hashedByCaller: true,
  });
  // SHA-256 of the stored bytes on this thread, each chunk hashed while the
  // worker decompresses it: off the worker's path (docs/BENCHMARKS.md).
  const hash = createHash('sha256');
  let sinkFailed = false;
  const pipeline = new CodecPipeline(
    job,
    async (c) => {
      try {
        await sink(c);
      } catch (err) {
        sinkFailed = true;
        throw err;
      }
    },
    { recycle: sinkReleasesChunks },
  );
  try {
    for await (const chunk of ctx.storage.readChunks(segmentKey)) {
      const copy = transferable(chunk.length); // the read buffer may be pooled: never transfer it
      chunk.copy(copy);
      const pushed = pipeline.push(copy); // posted at once; the worker starts on it
      hash.update(chunk);
      await pushed;
    }
    await pipeline.end(hash.digest('hex'));
  } catch (err) {
    await pipeline.cancel();
    if (sinkFailed) throw err;
    if (err instanceof SegmentFailure) throw corrupt(err.reason);
    if (isErrno(err, 'ENOENT')) {
      const manifestThere = (await listObjects(ctx, checkpointPrefix(info.id, info.quarantined))).some((o) =>
        isManifestKey(o.key),
      );
      if (!manifestThere) throw new Vanished(`checkpoint ${info.id} was removed while being read`);
      throw corrupt('segment is missing');
    }
    throw storageError(`cannot read ${segmentKey}`, err);
  }
}

/** Reads one segment into memory, verified. */
export async function loadSegment(
  ctx: RepositoryContext,
  info: CheckpointInfo,
  part: CheckpointPartitionInfo,
): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await readSegment(ctx, info, part, (c) => void out.push(c));
  return out;
}
