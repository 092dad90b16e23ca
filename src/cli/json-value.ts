import type { RawEntry } from '../state/backend.js';
import { decodeKey } from '../state/key-codec.js';
import { decodeValue } from '../state/value-codec.js';
import { type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';

/**
 * Tags for what JSON cannot hold (docs/CLI.md, "How values are rendered").
 * Each is a one-key object; a stored plain object that happens to look like
 * one is wrapped in `$object`, so rendering is unambiguous and reversible.
 */
const TAGS = new Set([
  '$binary',
  '$bigint',
  '$date',
  '$set',
  '$map',
  '$undefined',
  '$number',
  '$typedArray',
  '$object',
  '$unknown',
]);

/** A state value (as msgpack decodes it) turned into plain JSON data, losslessly. */
export function toJsonValue(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : { $number: String(value) };
    case 'bigint':
      return { $bigint: value.toString() };
    case 'undefined':
      return { $undefined: true };
    case 'object':
      break;
    default:
      return { $unknown: typeof value };
  }
  if (value === null) return null;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) out.push(toJsonValue(value[i]));
    return out;
  }
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof Uint8Array)
    return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = value as unknown as ArrayLike<number | bigint>;
    return { $typedArray: value.constructor.name, values: Array.from(arr, (v) => toJsonValue(v)) };
  }
  if (value instanceof Set) return { $set: [...value].map(toJsonValue) };
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [toJsonValue(k), toJsonValue(v)]) };
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null)
    return { $unknown: (value as object).constructor?.name ?? 'object' };
  const out: Record<string, unknown> = {};
  const keys = Object.keys(value);
  for (const k of keys) out[k] = toJsonValue((value as Record<string, unknown>)[k]);
  return keys.length === 1 && TAGS.has(keys[0]!) ? { $object: out } : out;
}

/** One exported entry: a line of `tidemark export`, a sample of `tidemark inspect`. */
export interface ExportLine {
  topic: string;
  partition: number;
  /** Scope name; "" is the default scope. */
  scope: string;
  /** A string key as is; a binary key as `{"$binary": "<base64>"}`. */
  key: unknown;
  value: unknown;
  /** ISO time the entry expires; absent when it has no TTL. */
  expiresAt?: string;
}

/** A stored entry decoded into its export form, with its expiry (0 = none). */
export function decodeEntry(tp: TopicPartition, raw: RawEntry): { line: ExportLine; expiresAt: number } {
  let scope: string;
  let key: string | Uint8Array;
  let decoded: ReturnType<typeof decodeValue>;
  try {
    ({ scope, key } = decodeKey(raw.key));
    decoded = decodeValue(raw.value);
  } catch (err) {
    throw new Error(
      `${formatTopicPartition(tp)}: cannot decode the entry with key 0x${raw.key.toString('hex')}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const line: ExportLine = {
    topic: tp.topic,
    partition: tp.partition,
    scope,
    key: typeof key === 'string' ? key : toJsonValue(key),
    value: toJsonValue(decoded.value),
  };
  if (decoded.expiresAt !== 0) line.expiresAt = new Date(decoded.expiresAt).toISOString();
  return { line, expiresAt: decoded.expiresAt };
}
