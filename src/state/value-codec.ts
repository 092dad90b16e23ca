import { Packr } from 'msgpackr';
import { InvalidValueError } from '../errors/invalid-value-error.js';
import { describe } from './key-codec.js';

/**
 * Stored value layout (docs/FORMAT.md, "State values"):
 * - `0x00` then the msgpack body: no expiry;
 * - `0x01`, expiresAt (float64 BE, ms since epoch), ttl (float64 BE, ms), then the msgpack body.
 */
export const VALUE_PLAIN = 0x00;
export const VALUE_TTL = 0x01;
const TTL_HEADER = 17;

// msgpackr pack() flags. Its browser entry exports them, its Node entry does
// not (msgpackr 1.11.5): the values are msgpackr's own (pack.js).
const RESET_BUFFER_MODE = 1024;
const RESERVE_START_SPACE = 2048;

// No records or shared structures: every stored value decodes on its own, so
// checkpoints, exports and other processes can read it without context.
// copyBuffers: decoded Buffers must not alias LMDB's reused read buffer.
const packr = new Packr({ useRecords: false, moreTypes: true, structuredClone: false, copyBuffers: true });

const MAX_DEPTH = 256;

/**
 * Throws {@link InvalidValueError} unless msgpack can round-trip `value`.
 * Accepted: null, booleans, numbers, bigints, strings, Dates, typed arrays and
 * Buffers, arrays, Sets and plain objects (nested `undefined` is kept).
 * Rejected: `undefined` at the top, functions, symbols, Maps, class instances,
 * cycles, nesting past 256 levels. msgpack would silently turn several of
 * these into something else, which is worse than an error.
 */
export function assertStorable(value: unknown, key: unknown): void {
  if (typeof value !== 'object') {
    if (value === undefined) {
      throw new InvalidValueError(`value for key ${fmtKey(key)} is undefined; use delete() to remove an entry`);
    }
    if (typeof value === 'function' || typeof value === 'symbol') checkNested(value, key, '$', 0);
    return;
  }
  if (value === null) return;
  // Fast path for the hot path's common case, a flat plain object. Reading
  // `constructor` is inlined by V8 where Object.getPrototypeOf is not (about
  // 2x faster, measured); anything else takes the full check below.
  if ((value as { constructor?: unknown }).constructor === Object) {
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      const v = obj[k];
      const t = typeof v;
      if (t === 'object' ? v !== null : t === 'function' || t === 'symbol') checkNested(v, key, '$', 1);
    }
    return;
  }
  checkNested(value, key, '$', 0);
}

function checkNested(value: unknown, key: unknown, path: string, depth: number): void {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return;
    case 'function':
    case 'symbol':
      throw bad(key, path, `a ${typeof value} cannot be serialized`);
    default:
  }
  if (value === null) return;
  if (depth >= MAX_DEPTH) throw bad(key, path, `nesting deeper than ${MAX_DEPTH} levels (or a cycle)`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkNested(value[i], key, path, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null) {
    const obj = value as Record<string, unknown>;
    for (const k in obj) checkNested(obj[k], key, path, depth + 1);
    return;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw bad(key, path, 'an invalid Date cannot be serialized');
    return;
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return;
  if (value instanceof Set) {
    for (const v of value) checkNested(v, key, path, depth + 1);
    return;
  }
  if (value instanceof Map) {
    throw bad(
      key,
      path,
      'a Map would come back as a plain object; store a plain object or an array of [key, value] pairs',
    );
  }
  throw bad(key, path, `a ${describe(value)} instance would lose its class; store a plain object`);
}

function bad(key: unknown, path: string, why: string): InvalidValueError {
  return new InvalidValueError(`value for key ${fmtKey(key)} cannot be stored: ${why} (somewhere under ${path})`);
}

function fmtKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}...` : key);
  if (key instanceof Uint8Array) return `0x${Buffer.from(key.subarray(0, 30)).toString('hex')}`;
  return String(key);
}

/**
 * Encodes a value (already validated) with its optional expiry into a buffer
 * that is only valid until the next call: msgpackr writes the body after
 * space reserved for our header, in its own reused buffer, with no copy. For
 * writers that copy the bytes at once (LMDB's putSync does).
 */
export function encodeValueTransient(value: unknown, expiresAt: number, ttlMs: number): Buffer {
  const header = expiresAt === 0 ? 1 : TTL_HEADER;
  let out: Buffer;
  try {
    out = packr.pack(value, RESERVE_START_SPACE | RESET_BUFFER_MODE | header) as Buffer;
  } catch (err) {
    throw new InvalidValueError(`value cannot be serialized: ${(err as Error).message}`, { cause: err });
  }
  if (header === 1) {
    out[0] = VALUE_PLAIN;
  } else {
    out[0] = VALUE_TTL;
    out.writeDoubleBE(expiresAt, 1);
    out.writeDoubleBE(ttlMs, 9);
  }
  return out;
}

/** Like {@link encodeValueTransient}, into a buffer the caller owns. */
export function encodeValue(value: unknown, expiresAt: number, ttlMs: number): Buffer {
  return Buffer.from(encodeValueTransient(value, expiresAt, ttlMs));
}

/** A stored value, decoded. */
export interface DecodedValue {
  value: unknown;
  /** 0 when the entry never expires. */
  expiresAt: number;
  ttlMs: number;
}

/** Reads only the expiry of a stored value (0 = never), without decoding the body. */
export function readExpiry(stored: Uint8Array): number {
  if (stored[0] !== VALUE_TTL) return 0;
  return Buffer.from(stored.buffer, stored.byteOffset, stored.length).readDoubleBE(1);
}

/** Decodes a stored value. Throws on an unknown header byte. */
export function decodeValue(stored: Uint8Array): DecodedValue {
  const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.length);
  const tag = buf[0];
  if (tag === VALUE_PLAIN) return { value: packr.unpack(buf.subarray(1)), expiresAt: 0, ttlMs: 0 };
  if (tag === VALUE_TTL) {
    return {
      value: packr.unpack(buf.subarray(TTL_HEADER)),
      expiresAt: buf.readDoubleBE(1),
      ttlMs: buf.readDoubleBE(9),
    };
  }
  throw new InvalidValueError(`corrupt stored value: unknown header byte ${String(tag)}`);
}
