import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { InvalidKeyError } from '../errors/invalid-key-error.js';

/** A state key: a non-empty string or a non-empty Buffer/Uint8Array. */
export type StateKey = string | Uint8Array;

/** LMDB's (lmdb-js build) maximum key size in bytes. */
export const MAX_ENCODED_KEY_BYTES = 1978;

// Type tags: strings sort before binary keys within a scope.
const TAG_STRING = 0x01;
const TAG_BINARY = 0x02;
const TAG_END = 0x03;

/**
 * Encoded key layout (docs/FORMAT.md, "State keys"):
 * `[scope length: u8][scope: UTF-8][tag: 0x01 string | 0x02 binary][key bytes]`.
 * The length prefix keeps every scope's keys in one contiguous range that no
 * other scope can reach, whatever the key bytes are.
 */
export class ScopeCodec {
  /** The encoded scope header, `[len][scope]`. */
  readonly header: Buffer;

  constructor(readonly scope: string) {
    this.header = encodeScopeHeader(scope);
  }

  /** Encodes a key of this scope; validates it first. */
  encode(key: StateKey): Buffer {
    const h = this.header;
    if (typeof key === 'string') {
      assertStringKey(key);
      const n = Buffer.byteLength(key, 'utf8');
      this.assertSize(n, key);
      const out = Buffer.allocUnsafe(h.length + 1 + n);
      h.copy(out, 0);
      out[h.length] = TAG_STRING;
      out.write(key, h.length + 1, 'utf8');
      return out;
    }
    assertBinaryKey(key);
    this.assertSize(key.length, key);
    const out = Buffer.allocUnsafe(h.length + 1 + key.length);
    h.copy(out, 0);
    out[h.length] = TAG_BINARY;
    out.set(key, h.length + 1);
    return out;
  }

  /** Lower bound (inclusive) of every key in this scope. */
  get lowerBound(): Buffer {
    return Buffer.concat([this.header, Buffer.of(TAG_STRING)]);
  }

  /** Upper bound (exclusive) of every key in this scope. */
  get upperBound(): Buffer {
    return Buffer.concat([this.header, Buffer.of(TAG_END)]);
  }

  /** Bounds for the keys starting with `prefix` (same type as the prefix). */
  prefixBounds(prefix: StateKey): { start: Buffer; end: Buffer } {
    const tag = typeof prefix === 'string' ? TAG_STRING : TAG_BINARY;
    const bytes = typeof prefix === 'string' ? Buffer.from(prefix, 'utf8') : Buffer.from(prefix);
    const start = Buffer.concat([this.header, Buffer.of(tag), bytes]);
    const end = successorOfPrefix(start) ?? this.upperBound;
    return { start, end };
  }

  /** Encodes a range bound without the emptiness check (an empty string bound is legal). */
  encodeBound(bound: StateKey): Buffer {
    const tag = typeof bound === 'string' ? TAG_STRING : TAG_BINARY;
    if (typeof bound !== 'string' && !(bound instanceof Uint8Array)) {
      throw new InvalidKeyError(`range bound must be a string or a Buffer, got ${describe(bound)}`);
    }
    const bytes = typeof bound === 'string' ? Buffer.from(bound, 'utf8') : Buffer.from(bound);
    return Buffer.concat([this.header, Buffer.of(tag), bytes]);
  }

  private assertSize(n: number, key: StateKey): void {
    if (this.header.length + 1 + n > MAX_ENCODED_KEY_BYTES) {
      throw new InvalidKeyError(
        `key of ${n} bytes is too long: key bytes + scope bytes + 2 must be at most ${MAX_ENCODED_KEY_BYTES} (LMDB's limit); ` +
          `key starts with ${JSON.stringify(preview(key))}`,
      );
    }
  }
}

/** Splits an encoded key back into its scope and user key. */
export function decodeKey(encoded: Uint8Array): { scope: string; key: StateKey } {
  const len = encoded[0]!;
  const buf = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.length);
  const scope = buf.toString('utf8', 1, 1 + len);
  const tag = buf[1 + len];
  const body = buf.subarray(2 + len);
  if (tag === TAG_STRING) return { scope, key: body.toString('utf8') };
  if (tag === TAG_BINARY) return { scope, key: Buffer.from(body) };
  throw new InvalidKeyError(`corrupt encoded key: unknown type tag ${String(tag)}`);
}

/** Decodes only the user key of an encoded key whose scope header length is known. */
export function decodeUserKey(encoded: Buffer, headerLength: number): StateKey {
  const tag = encoded[headerLength];
  if (tag === TAG_STRING) return encoded.toString('utf8', headerLength + 1);
  return Buffer.from(encoded.subarray(headerLength + 1));
}

function encodeScopeHeader(scope: string): Buffer {
  if (typeof scope !== 'string') throw new InvalidArgumentError(`scope name must be a string, got ${describe(scope)}`);
  const n = Buffer.byteLength(scope, 'utf8');
  if (n > 255) throw new InvalidArgumentError(`scope name is ${n} bytes; the limit is 255`);
  const h = Buffer.allocUnsafe(1 + n);
  h[0] = n;
  h.write(scope, 1, 'utf8');
  return h;
}

/** Throws unless `key` is a usable string key. Cheap: called on every operation. */
export function assertStringKey(key: string): void {
  if (key.length === 0) throw new InvalidKeyError('key must not be empty');
}

function assertBinaryKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) {
    throw new InvalidKeyError(`key must be a string or a Buffer, got ${describe(key)}`);
  }
  if (key.length === 0) throw new InvalidKeyError('key must not be empty');
}

/** Map key for a binary state key in the hot cache. */
export function binaryCacheKey(key: Uint8Array): string {
  assertBinaryKey(key);
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
}

function successorOfPrefix(prefix: Buffer): Buffer | undefined {
  const out = Buffer.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1;
      return out.subarray(0, i + 1);
    }
  }
  return undefined;
}

function preview(key: StateKey): string {
  return typeof key === 'string' ? key.slice(0, 40) : Buffer.from(key.subarray(0, 20)).toString('hex');
}

/** Short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
