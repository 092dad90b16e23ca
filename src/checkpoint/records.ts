import type { RawEntry } from '../state/backend.js';

/**
 * The record stream inside a segment (docs/FORMAT.md, "Records"): for each
 * stored entry, in strictly increasing key order,
 * `[key length: u16 LE][value length: u32 LE][key][value]`.
 */
export const RECORD_HEADER_BYTES = 6;
/**
 * Value length of a tombstone in a delta segment (format 2): the key was
 * deleted since the parent checkpoint; no value bytes follow.
 */
export const TOMBSTONE = 0xffffffff;
/** Size of the buffers records are packed into and handed to the worker. */
export const CHUNK_BYTES = 1 << 20;
const MAX_KEY = 0xffff;
const MAX_VALUE = TOMBSTONE - 1;

/**
 * A buffer backed by its own ArrayBuffer, so it can be transferred to another
 * thread. Not zero-filled (like Buffer.allocUnsafe): every user writes before
 * it reads and hands on views of the written bytes only. Zero-filling cost
 * ~16 ms per 62 MB decoded in the worker (docs/BENCHMARKS.md).
 */
export function transferable(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/**
 * Packs entries into record-stream chunks of about {@link CHUNK_BYTES}; a
 * record larger than that gets a chunk of its own. Every chunk owns its
 * ArrayBuffer (transferable).
 */
export class RecordPacker {
  entries = 0;
  /** Of `entries`, the tombstones. */
  tombstones = 0;
  rawBytes = 0;
  private buf: Buffer;
  private pos = 0;
  private sealed: Buffer[] = [];

  constructor(private readonly chunkBytes = CHUNK_BYTES) {
    this.buf = transferable(chunkBytes);
  }

  add(key: Uint8Array, value: Uint8Array): void {
    const p = this.header(key, value.length, value.length);
    this.buf.set(value, p);
    this.pos = p + value.length;
  }

  /** Packs a tombstone (delta segments only): `key` was deleted. */
  addTombstone(key: Uint8Array): void {
    this.pos = this.header(key, TOMBSTONE, 0);
    this.tombstones++;
  }

  // Checks the key and value size, makes room for the record (header, key, `valueBytes`),
  // writes its header with `lengthField` and its key, counts it; returns
  // where the value goes.
  private header(key: Uint8Array, lengthField: number, valueBytes: number): number {
    if (key.length === 0 || key.length > MAX_KEY)
      throw new RangeError(`cannot checkpoint a key of ${key.length} bytes`);
    if (valueBytes > MAX_VALUE) throw new RangeError(`cannot checkpoint a value of ${valueBytes} bytes`);
    const need = RECORD_HEADER_BYTES + key.length + valueBytes;
    if (this.pos + need > this.buf.length) {
      this.seal();
      if (need > this.buf.length) this.buf = transferable(need);
    }
    const b = this.buf;
    const p = this.pos;
    b[p] = key.length & 0xff;
    b[p + 1] = key.length >>> 8;
    b.writeUInt32LE(lengthField, p + 2);
    b.set(key, p + RECORD_HEADER_BYTES);
    this.entries++;
    this.rawBytes += need;
    return p + RECORD_HEADER_BYTES + key.length;
  }

  /** Bytes packed but not yet sealed into a chunk. */
  get pending(): number {
    return this.pos;
  }

  /** Chunks filled since the last call. */
  take(): Buffer[] {
    const out = this.sealed;
    this.sealed = [];
    return out;
  }

  /** Seals the partly filled chunk too, and returns every chunk not yet taken. */
  finish(): Buffer[] {
    this.seal();
    return this.take();
  }

  private seal(): void {
    if (this.pos === 0) return;
    this.sealed.push(this.buf.subarray(0, this.pos));
    this.buf = transferable(this.chunkBytes);
    this.pos = 0;
  }
}

/** Why a record stream is invalid. */
export class RecordStreamError extends Error {}

/**
 * Checks a record stream incrementally (lengths, strictly increasing keys)
 * and finds record boundaries, so decoded output can be cut into chunks
 * holding whole records only.
 */
export class RecordScanner {
  entries = 0;
  /** Of `entries`, the tombstones (delta segments only). */
  tombstones = 0;
  /** Size of the record starting at the last position returned, when its header is complete. */
  incompleteRecordBytes = 0;
  private lastKey: Uint8Array | undefined;

  /** `delta`: tombstones are allowed (a delta segment); in a full segment one is an error. */
  constructor(private readonly delta = false) {}

  /**
   * Scans records in `buf[start, end)` and returns where the first
   * incomplete record starts (`end` if none).
   */
  scan(buf: Uint8Array, start: number, end: number): number {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let p = start;
    let prevKeyStart = -1;
    let prevKeyLen = 0;
    let entries = this.entries;
    this.incompleteRecordBytes = 0;
    while (end - p >= RECORD_HEADER_BYTES) {
      const keyLen = view.getUint16(p, true);
      const valueLen = view.getUint32(p + 2, true);
      if (keyLen === 0) throw new RecordStreamError(`record ${entries} has an empty key`);
      const tombstone = valueLen === TOMBSTONE;
      if (tombstone && !this.delta) throw new RecordStreamError(`record ${entries} is a tombstone in a full segment`);
      const size = RECORD_HEADER_BYTES + keyLen + (tombstone ? 0 : valueLen);
      if (end - p < size) {
        this.incompleteRecordBytes = size;
        break;
      }
      const keyStart = p + RECORD_HEADER_BYTES;
      if (prevKeyStart >= 0) {
        if (!sortsAfter(view, keyStart, keyLen, prevKeyStart, prevKeyLen)) throw outOfOrder(entries);
      } else if (this.lastKey !== undefined && !sortsAfterKey(buf, keyStart, keyLen, this.lastKey)) {
        throw outOfOrder(entries);
      }
      prevKeyStart = keyStart;
      prevKeyLen = keyLen;
      entries++;
      if (tombstone) this.tombstones++;
      p += size;
    }
    this.entries = entries; // not updated by a throw: a failed stream is never scanned again
    // A copy (Buffer's slice would be a view): `buf` may be handed to another thread next.
    if (prevKeyStart >= 0) this.lastKey = new Uint8Array(buf.subarray(prevKeyStart, prevKeyStart + prevKeyLen));
    return p;
  }
}

function outOfOrder(record: number): RecordStreamError {
  return new RecordStreamError(`record ${record} is out of key order (or a duplicate key)`);
}

// True when the key at v[aStart, +aLen) sorts strictly after the one at
// v[bStart, +bLen), bytewise: four bytes at a time as big-endian words (their
// unsigned order is the bytes' order), then byte by byte. Twice as fast as a
// byte loop on keys with long common prefixes, and a native compare per
// record (Buffer.compare) costs more than the comparison itself; see
// docs/BENCHMARKS.md, "Where a small-entry checkpoint's time goes".
function sortsAfter(v: DataView, aStart: number, aLen: number, bStart: number, bLen: number): boolean {
  const n = Math.min(aLen, bLen);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v.getUint32(aStart + i);
    const y = v.getUint32(bStart + i);
    if (x !== y) return x > y;
  }
  for (; i < n; i++) {
    const x = v.getUint8(aStart + i);
    const y = v.getUint8(bStart + i);
    if (x !== y) return x > y;
  }
  return aLen > bLen;
}

// The same against the last key of the previous scan (once per call).
function sortsAfterKey(a: Uint8Array, aStart: number, aLen: number, b: Uint8Array): boolean {
  const n = Math.min(aLen, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[i]!;
    if (x !== y) return x > y;
  }
  return aLen > b.length;
}

/**
 * Reads entries back from verified chunks that hold whole records only (as
 * the decoder emits them). Keys and values are views into the chunks.
 */
export function* readRecords(chunks: readonly Buffer[]): Generator<RawEntry> {
  for (const c of chunks) {
    let p = 0;
    while (p < c.length) {
      const keyLen = c[p]! | (c[p + 1]! << 8);
      const valueLen = c.readUInt32LE(p + 2);
      const k = p + RECORD_HEADER_BYTES;
      const v = k + keyLen;
      p = v + valueLen;
      if (p > c.length) throw new RecordStreamError('record crosses a chunk boundary');
      yield { key: c.subarray(k, v), value: c.subarray(v, p) };
    }
  }
}

/** A record of a delta segment: a new value, or null for a deleted key. */
export interface DeltaRecord {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/**
 * Reads records back from verified chunks of a delta segment (tombstones as
 * null values). Keys and values are views into the chunks.
 */
export function* readDeltaRecords(chunks: readonly Buffer[]): Generator<DeltaRecord> {
  for (const c of chunks) {
    let p = 0;
    while (p < c.length) {
      const keyLen = c[p]! | (c[p + 1]! << 8);
      const valueLen = c.readUInt32LE(p + 2);
      const k = p + RECORD_HEADER_BYTES;
      const v = k + keyLen;
      if (valueLen === TOMBSTONE) {
        p = v;
        if (p > c.length) throw new RecordStreamError('record crosses a chunk boundary');
        yield { key: c.subarray(k, v), value: null };
        continue;
      }
      p = v + valueLen;
      if (p > c.length) throw new RecordStreamError('record crosses a chunk boundary');
      yield { key: c.subarray(k, v), value: c.subarray(v, p) };
    }
  }
}
