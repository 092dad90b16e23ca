import { createHash } from 'node:crypto';
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointFormatError } from '../errors/checkpoint-format-error.js';
import { compareTopicPartitions, type TopicPartition } from '../util/topic-partition.js';
import { isCheckpointId } from './checkpoint-id.js';

/** The manifest format this code writes and the newest it reads (docs/FORMAT.md); it reads 1 too. */
export const FORMAT_VERSION = 2;
/** Value of the manifest's `format` field. */
export const FORMAT_NAME = 'tidemark-checkpoint';
/** Name of the manifest object inside a checkpoint. */
export const MANIFEST_FILE = 'manifest';
/** Manifests larger than this are refused unread (10,000 partitions take ~3 MB). */
export const MAX_MANIFEST_BYTES = 32 << 20;

/** One partition's segment, as recorded in the manifest. */
export interface ManifestPartition {
  topic: string;
  partition: number;
  /** Next offset to consume (decimal string), or null when the partition had state but no offset. */
  offset: string | null;
  /** Number of records in the segment. */
  entries: number;
  /** Size of the uncompressed record stream. */
  rawBytes: number;
  /** Size of the segment object as stored. */
  storedBytes: number;
  /** SHA-256 (hex) of the stored segment bytes. */
  sha256: string;
  /** Object name of the segment inside the checkpoint. */
  file: string;
  /**
   * Format 2: `full` (every entry) or `delta` (the entries changed since
   * `base`, deletes as tombstones). Absent in format 1: full.
   */
  kind?: SegmentKind;
  /** Delta only: the checkpoint whose state of this partition the delta applies to. */
  base?: string;
  /** Deltas between this segment and its full base: 0 for a full one, 1 for a delta on a full one, ... */
  depth?: number;
  /** Tombstones among `entries` (0 for a full segment). */
  deletes?: number;
}

/** A segment's kind (format 2). */
export type SegmentKind = 'full' | 'delta';

/** True when a partition's segment is a delta (format 2). */
export function isDelta(p: Pick<ManifestPartition, 'kind'>): boolean {
  return p.kind === 'delta';
}

/** How segments are encrypted. */
export type ManifestEncryption = { algorithm: 'none' } | { algorithm: 'aes-256-gcm'; keyFingerprint: string };

/** The manifest of a checkpoint (format version 1). */
export interface Manifest {
  format: typeof FORMAT_NAME;
  formatVersion: number;
  id: string;
  /** ISO 8601 UTC time the snapshot was taken. */
  createdAt: string;
  /** Schema version of the state values (StateStore `schemaVersion`). */
  schemaVersion: number;
  compression: { codec: 'zstd'; level: number };
  encryption: ManifestEncryption;
  writer: { host: string; pid: number };
  /** Sorted by topic, then partition; no duplicates. */
  partitions: ManifestPartition[];
}

/**
 * Serializes a manifest: its JSON, a newline, then `sha256:<hex>` of every
 * byte before that line, and a newline.
 */
export function encodeManifest(manifest: Manifest): Buffer {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  const sum = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([body, Buffer.from(`sha256:${sum}\n`, 'utf8')]);
}

const SUM_LINE = /^sha256:([0-9a-f]{64})$/;

/**
 * Parses and checks a manifest read from checkpoint `id`. The checksum is
 * checked before anything else, so a flipped bit anywhere (the version
 * included) reads as corruption, never as a newer format.
 * @throws CheckpointCorruptError, CheckpointFormatError
 */
export function decodeManifest(id: string, bytes: Buffer): Manifest {
  const corrupt = (reason: string): CheckpointCorruptError =>
    new CheckpointCorruptError(`checkpoint ${id} is corrupt: ${reason}`, id, reason);
  if (bytes.length < 2 || bytes[bytes.length - 1] !== 0x0a) throw corrupt('manifest is truncated (no final newline)');
  const lineStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
  const sumLine = bytes.toString('latin1', lineStart, bytes.length - 1);
  const m = SUM_LINE.exec(sumLine);
  if (m === null) throw corrupt('manifest has no valid sha256 line (truncated or not a manifest)');
  const body = bytes.subarray(0, lineStart);
  if (createHash('sha256').update(body).digest('hex') !== m[1]) throw corrupt('manifest checksum mismatch');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw corrupt(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed) || parsed.format !== FORMAT_NAME) throw corrupt(`manifest "format" is not "${FORMAT_NAME}"`);
  const version = parsed.formatVersion;
  if (!Number.isSafeInteger(version) || (version as number) < 1)
    throw corrupt('manifest "formatVersion" is not a positive integer');
  if ((version as number) > FORMAT_VERSION) {
    throw new CheckpointFormatError(
      `checkpoint ${id} has format version ${String(version)}, newer than the ${FORMAT_VERSION} this code reads; ` +
        'upgrade tidemark to read it (it was left untouched)',
      id,
      version as number,
      FORMAT_VERSION,
    );
  }
  const problem = checkV1(parsed, id) ?? (version === 2 ? checkV2(parsed, id) : undefined);
  if (problem !== undefined) throw corrupt(`manifest ${problem}`);
  return parsed as unknown as Manifest;
}

// Returns what is wrong with a version-1 manifest, or undefined.
function checkV1(m: Record<string, unknown>, id: string): string | undefined {
  if (m.id !== id) return `belongs to checkpoint ${JSON.stringify(m.id)}, not ${id}`;
  if (!isCheckpointId(m.id)) return '"id" is not a checkpoint id';
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt))) return '"createdAt" is not a time';
  if (!isNonNegInt(m.schemaVersion)) return '"schemaVersion" is not an integer';
  const c = m.compression;
  if (!isRecord(c) || c.codec !== 'zstd' || !Number.isSafeInteger(c.level))
    return '"compression" is not zstd with a level';
  const e = m.encryption;
  if (!isRecord(e)) return '"encryption" is missing';
  if (e.algorithm === 'aes-256-gcm') {
    if (typeof e.keyFingerprint !== 'string' || !/^[0-9a-f]{16}$/.test(e.keyFingerprint))
      return '"encryption.keyFingerprint" is invalid';
  } else if (e.algorithm !== 'none') return `"encryption.algorithm" ${JSON.stringify(e.algorithm)} is unknown`;
  const w = m.writer;
  if (!isRecord(w) || typeof w.host !== 'string' || !isNonNegInt(w.pid)) return '"writer" is invalid';
  if (!Array.isArray(m.partitions)) return '"partitions" is not an array';
  const files = new Set<string>();
  let previous: TopicPartition | undefined;
  for (const [i, p] of (m.partitions as unknown[]).entries()) {
    const where = `partitions[${i}]`;
    if (!isRecord(p)) return `${where} is not an object`;
    if (typeof p.topic !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(p.topic)) return `${where}.topic is invalid`;
    if (!isNonNegInt(p.partition) || (p.partition as number) > 0x7fffffff) return `${where}.partition is invalid`;
    if (p.offset !== null && (typeof p.offset !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(p.offset)))
      return `${where}.offset is invalid`;
    for (const f of ['entries', 'rawBytes', 'storedBytes'] as const)
      if (!isNonNegInt(p[f])) return `${where}.${f} is invalid`;
    if (typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) return `${where}.sha256 is invalid`;
    if (typeof p.file !== 'string' || p.file !== segmentFileName(p as unknown as TopicPartition))
      return `${where}.file is invalid`;
    const tp = p as unknown as TopicPartition;
    if (previous !== undefined && compareTopicPartitions(previous, tp) >= 0)
      return 'partitions are not sorted and unique';
    if (files.has(p.file)) return `${where}.file is used twice`;
    files.add(p.file);
    previous = tp;
  }
  return undefined;
}

// What is wrong with the format-2 fields of a manifest that passed checkV1.
function checkV2(m: Record<string, unknown>, id: string): string | undefined {
  for (const [i, p] of (m.partitions as Array<Record<string, unknown>>).entries()) {
    const where = `partitions[${i}]`;
    if (p.kind !== 'full' && p.kind !== 'delta') return `${where}.kind is not "full" or "delta"`;
    if (!isNonNegInt(p.depth)) return `${where}.depth is invalid`;
    if (!isNonNegInt(p.deletes) || (p.deletes as number) > (p.entries as number)) return `${where}.deletes is invalid`;
    if (p.kind === 'full') {
      if (p.base !== undefined) return `${where} is full but names a base`;
      if (p.depth !== 0 || p.deletes !== 0) return `${where} is full but has a depth or deletes`;
    } else {
      if (typeof p.base !== 'string' || !isCheckpointId(p.base) || p.base >= id)
        return `${where}.base is not the id of an older checkpoint`;
      if ((p.depth as number) < 1) return `${where}.depth of a delta is below 1`;
    }
  }
  return undefined;
}

/**
 * Object name of a partition's segment: `<topic>.<partition>.seg`, with long
 * topics shortened and disambiguated by a hash so names stay under 255 bytes.
 */
export function segmentFileName(tp: TopicPartition): string {
  const topic =
    tp.topic.length <= 200
      ? tp.topic
      : `${tp.topic.slice(0, 160)}~${createHash('sha256').update(tp.topic).digest('hex').slice(0, 16)}`;
  return `${topic}.${tp.partition}.seg`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
