import { ConfigError } from '../errors/config-error.js';
import { booleanOption, checkOptions, functionOption, intOption, numberOption } from '../util/options.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Migrations } from './migrations.js';
import type { ExpiredEntry } from './partition-core.js';

/** Options for {@link StateStore.open}. */
export interface StateStoreOptions {
  /** State directory (created 0700). Required for the `lmdb` backend. */
  path?: string;
  /** `lmdb` (default when `path` is given) or `memory` (nothing survives the process). */
  backend?: 'lmdb' | 'memory';
  /** Bound on decoded entries held in memory, store-wide. Default 100,000. */
  cacheEntries?: number;
  /** Time-to-live applied to every put that gives none, in ms; 0 = never expires (default). */
  defaultTtlMs?: number;
  /** How often expired entries are swept, in ms; 0 disables the sweep. Default 60,000. */
  sweepIntervalMs?: number;
  /** Time source for TTLs. Default: the system clock. */
  clock?: Clock;
  /** Schema version of the values this code writes. Default 1. */
  schemaVersion?: number;
  /** Upgrades run at open when the store is at an older version; `migrations[n]` goes from n to n+1. */
  migrations?: Migrations;
  /** Most partitions the store can hold (LMDB named databases). Default 1024. */
  maxPartitions?: number;
  /**
   * Open an existing LMDB state directory to read it only, alongside the
   * process that owns it (LMDB serves readers in other processes): no lock
   * is taken, nothing can be written, no migration runs (the store reads at
   * its stored schema version), expired entries are hidden but not removed.
   */
  readOnly?: boolean;
  /**
   * Called with each entry found expired (by a read or the sweep) as it is
   * removed, with its last value: e.g. to emit a session window that closed.
   * Runs synchronously inside the read or sweep; it must not throw (a throw is
   * reported as a warning). After a crash the same expiry can be reported
   * again when the records are replayed.
   */
  onExpired?: (entry: ExpiredEntry) => void;
  /**
   * Incremental checkpoints: the store remembers which keys changed since the
   * last checkpoint, per partition, until they exceed this share of the
   * partition's entries (then its next checkpoint is a full one). In (0, 1];
   * default 0.25.
   */
  trackChangesShare?: number;
}

/** Options with defaults applied (internal). */
export interface ResolvedStoreOptions {
  path: string | undefined;
  backend: 'lmdb' | 'memory';
  cacheEntries: number;
  defaultTtlMs: number;
  sweepIntervalMs: number;
  clock: Clock;
  schemaVersion: number;
  migrations: Migrations;
  maxPartitions: number;
  onExpired: ((entry: ExpiredEntry) => void) | undefined;
  readOnly: boolean;
  trackChangesShare: number;
}

const KNOWN = [
  'onExpired',
  'readOnly',
  'path',
  'backend',
  'cacheEntries',
  'defaultTtlMs',
  'sweepIntervalMs',
  'clock',
  'schemaVersion',
  'migrations',
  'maxPartitions',
  'trackChangesShare',
];

/** Validates options and fills in defaults; throws {@link ConfigError} naming the bad field. */
export function resolveStoreOptions(options: StateStoreOptions): ResolvedStoreOptions {
  checkOptions(options, 'state store', KNOWN);
  const backend = options.backend ?? (options.path === undefined ? undefined : 'lmdb');
  if (backend !== 'lmdb' && backend !== 'memory') {
    throw new ConfigError(
      options.backend === undefined
        ? 'state store needs a "path" (LMDB) or backend: "memory"'
        : `backend must be "lmdb" or "memory", got ${JSON.stringify(options.backend)}`,
    );
  }
  if (backend === 'lmdb' && (typeof options.path !== 'string' || options.path.length === 0)) {
    throw new ConfigError('the lmdb backend needs "path": the state directory');
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function') throw new ConfigError('"clock" must have a now() method');
  const migrations = options.migrations ?? {};
  for (const [k, fn] of Object.entries(migrations)) {
    if (!/^[0-9]+$/.test(k) || typeof fn !== 'function') {
      throw new ConfigError(`migrations must map a version number to a function; bad entry ${JSON.stringify(k)}`);
    }
  }
  return {
    path: options.path,
    backend,
    cacheEntries: intOption('cacheEntries', options.cacheEntries, { min: 1, default: 100_000 }),
    defaultTtlMs: numberOption('defaultTtlMs', options.defaultTtlMs, { min: 0, default: 0 }),
    sweepIntervalMs: numberOption('sweepIntervalMs', options.sweepIntervalMs, { min: 0, default: 60_000 }),
    clock,
    schemaVersion: intOption('schemaVersion', options.schemaVersion, { min: 1, default: 1 }),
    migrations,
    maxPartitions: intOption('maxPartitions', options.maxPartitions, { min: 1, default: 1024 }),
    onExpired: functionOption('onExpired', options.onExpired),
    readOnly: readOnly(options.readOnly, backend),
    trackChangesShare: share(options.trackChangesShare),
  };
}

function readOnly(v: unknown, backend: 'lmdb' | 'memory'): boolean {
  if (!booleanOption('readOnly', v, false)) return false;
  if (backend !== 'lmdb') throw new ConfigError('"readOnly" needs the lmdb backend (a state directory)');
  return true;
}

function share(v: unknown): number {
  if (v === undefined) return 0.25;
  if (typeof v !== 'number' || !(v > 0) || v > 1) {
    throw new ConfigError(`"trackChangesShare" must be a number in (0, 1], got ${String(v)}`);
  }
  return v;
}
