import type { StateKey } from './key-codec.js';

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
export type Migration = (value: any, context: MigrationContext) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `migrations[n]` upgrades a value written at schema version n to n+1. */
export type Migrations = Readonly<Record<number, Migration>>;
