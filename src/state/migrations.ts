import type { TopicPartition } from '../util/topic-partition.js';
import type { RawEntry } from './backend.js';
import { decodeKey, type StateKey } from './key-codec.js';
import { assertStorable, decodeValue, encodeValue } from './value-codec.js';

/** Where a value being migrated lives. */
export interface MigrationContext {
  readonly topic: string;
  readonly partition: number;
  readonly scope: string;
  readonly key: StateKey;
}

/**
 * Upgrades one value from schema version n to n+1: add defaults, rename or
 * drop fields. Must return a storable value (not undefined); throwing aborts
 * the whole migration and leaves the store at its old version.
 */
// biome-ignore lint/suspicious/noExplicitAny: a migration receives a value of an older schema, whatever its shape
export type Migration = (value: any, context: MigrationContext) => unknown;

/** `migrations[n]` upgrades a value written at schema version n to n+1. */
export type Migrations = Readonly<Record<number, Migration>>;

/**
 * Runs `migrations[from]` .. `migrations[to - 1]` over one stored record's
 * value (restore of an older checkpoint), keeping its expiry. Returns the
 * new stored value (a buffer the caller owns). Throws what a migration
 * throws, with `at` the version whose migration failed, so the caller can
 * abandon the whole partition (nothing is half-applied).
 */
export function migrateStoredValue(
  tp: TopicPartition,
  raw: RawEntry,
  from: number,
  to: number,
  migrations: Migrations,
  step: { at: number },
): Buffer {
  const { scope, key } = decodeKey(raw.key);
  const decoded = decodeValue(raw.value);
  let value = decoded.value;
  for (step.at = from; step.at < to; step.at++) {
    value = migrations[step.at]!(value, { topic: tp.topic, partition: tp.partition, scope, key });
    if (value === undefined) throw new Error(`migration returned undefined for key ${JSON.stringify(String(key))}`);
  }
  assertStorable(value, key);
  return encodeValue(value, decoded.expiresAt, decoded.ttlMs);
}

/** The first version in [from, to) with no migration registered, if any. */
export function missingMigration(from: number, to: number, migrations: Migrations): number | undefined {
  for (let v = from; v < to; v++) if (typeof migrations[v] !== 'function') return v;
  return undefined;
}
