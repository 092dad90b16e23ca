// One partition's LMDB environment file in the partitioned layout (see
// docs/PHYSICAL-SEGMENTS.md): what is inside it, and how to read one. The
// same file is what a physical checkpoint segment holds, so this layout is
// part of the checkpoint format (docs/FORMAT.md, `lmdb.layout`).
import * as fs from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { storageFailure } from '../errors/storage-failure.js';
import type { PhysicalLayout, RawEntry } from './backend.js';

/**
 * tidemark's layout of a partition file, version 1: a database `data` with
 * the partition's entries (binary encoded keys and values, as the store
 * encodes them), and a database `meta` (msgpack) holding `offset` (the next
 * offset, a decimal string, or null) and `schemaVersion` (a number).
 */
export const PARTITION_LAYOUT = 1;
/** Name of the database holding a partition's entries. */
export const DATA_DB = 'data';
/** Name of the database holding a partition's offset and schema version. */
export const META_DB = 'meta';
/** `meta` key of the partition's next offset. */
export const META_OFFSET = 'offset';
/** `meta` key of the schema version of the partition's values. */
export const META_SCHEMA = 'schemaVersion';
/** Named databases a partition environment is opened with (`data`, `meta`, and room). */
export const PARTITION_MAX_DBS = 4;

/** The open databases of one partition file. */
export interface PartitionEnv {
  readonly root: RootDatabase;
  readonly data: Database<Buffer, Buffer>;
  readonly meta: Database<unknown, string>;
}

/** Opens (creating unless `readOnly`) a partition file with layout 1. */
export function openPartitionEnv(file: string, options: { readOnly: boolean }): PartitionEnv {
  const root = open({
    path: file,
    noSubdir: true,
    maxDbs: PARTITION_MAX_DBS,
    overlappingSync: true,
    readOnly: options.readOnly,
  });
  try {
    const data = root.openDB<Buffer, Buffer>({ name: DATA_DB, keyEncoding: 'binary', encoding: 'binary' });
    const meta = root.openDB<unknown, string>({ name: META_DB, encoding: 'msgpack' });
    return { root, data, meta };
  } catch (err) {
    void root.close();
    throw err;
  }
}

// LMDB's meta page holds this magic number, followed by the data file's
// version (a uint32, little-endian on the platforms lmdb-js builds for).
const LMDB_MAGIC = 0xbeefc0de;

/**
 * LMDB's data-file version as written in `file`'s first meta page (2 for the
 * LMDB lmdb-js 3.x bundles), or undefined if the file does not start like an
 * LMDB data file.
 */
export function lmdbDataVersion(file: string): number | undefined {
  const head = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  for (let at = 8; at + 8 <= n; at += 4) {
    if (head.readUInt32LE(at) === LMDB_MAGIC) return head.readUInt32LE(at + 4);
  }
  return undefined;
}

/** The layout of an open partition file: page size, data-file version, tidemark layout. */
export function physicalLayoutOf(env: PartitionEnv, file: string): PhysicalLayout {
  const stats = env.root.getStats() as { pageSize: number };
  const dataVersion = lmdbDataVersion(file);
  if (dataVersion === undefined) throw new Error(`${file} is not an LMDB data file`);
  return { pageSize: stats.pageSize, dataVersion, layout: PARTITION_LAYOUT };
}

/** True when two layouts are the same (a physical segment of `a` can be opened where `b` is expected). */
export function sameLayout(a: PhysicalLayout, b: PhysicalLayout): boolean {
  return a.pageSize === b.pageSize && a.dataVersion === b.dataVersion && a.layout === b.layout;
}

/** A partition file opened read-only. */
export interface PartitionFileReader {
  readonly offset: string | undefined;
  readonly schemaVersion: number | undefined;
  /** Entries in `data`. */
  readonly entries: number;
  readonly layout: PhysicalLayout;
  /** Every entry in key order (buffers owned by the caller). */
  read(): Iterable<RawEntry>;
  close(): Promise<void>;
}

/**
 * Opens a partition file read-only (a physical segment decompressed to a
 * local file, or a copy): throws {@link StorageError} when it is not one.
 * LMDB does not check its pages, and lmdb-js aborts the process on some
 * damaged files: only open files whose bytes were verified (the segment's
 * SHA-256 or GCM tag). Opening leaves a `<file>-lock` beside the file.
 */
export function readPartitionFile(file: string): PartitionFileReader {
  let env: PartitionEnv;
  try {
    // lmdb-js aborts the process (not an exception) opening a file without
    // LMDB's meta page, so that much is checked here first.
    if (lmdbDataVersion(file) === undefined) throw new Error('no LMDB meta page');
    env = openPartitionEnv(file, { readOnly: true });
  } catch (err) {
    throw storageFailure(`${file} is not a readable partition file`, err);
  }
  try {
    const offset = env.meta.get(META_OFFSET);
    const schemaVersion = env.meta.get(META_SCHEMA);
    const entries = (env.data.getStats() as { entryCount: number }).entryCount;
    const layout = physicalLayoutOf(env, file);
    return {
      offset: typeof offset === 'string' ? offset : undefined,
      schemaVersion: typeof schemaVersion === 'number' ? schemaVersion : undefined,
      entries,
      layout,
      read: () => env.data.getRange({}) as Iterable<RawEntry>,
      close: () => env.root.close(),
    };
  } catch (err) {
    void env.root.close();
    throw storageFailure(`${file} is not a readable partition file`, err);
  }
}
