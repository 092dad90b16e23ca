import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { StorageError } from '../errors/storage-error.js';
import { storageFailure } from '../errors/storage-failure.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import { FILE_MODE } from '../util/fs.js';
import { compareTopicPartitions, type TopicPartition, topicPartitionKey } from '../util/topic-partition.js';
import type {
  Backend,
  BackendSnapshot,
  PartitionStaging,
  PartitionWrite,
  RawEntry,
  RawRange,
  RestoreRecord,
} from './backend.js';

/** File name of the LMDB environment inside a state directory (plus `-lock`). */
export const LMDB_FILE = 'state.mdb';

/** Options for {@link LmdbBackend.open}. */
export interface LmdbBackendOptions {
  /** Maximum number of partitions this store can hold (LMDB named databases). */
  maxPartitions: number;
  /** Read only, beside the process that writes (no file is created or changed). */
  readOnly?: boolean;
}

type BinaryDb = Database<Buffer, Buffer>;
type OffsetKey = [string, number];

const META_SCHEMA = 'schemaVersion';
// meta key naming the named database that holds a partition's live state
// (absent: `p:<topic>:<partition>`); a restore stages into the other of the
// two names and swaps this pointer with the offset (docs/FORMAT.md is about
// checkpoints; this is the store's own layout, see DESIGN.md "State").
const META_DB = 'db:';
// lmdb-js transaction flags: abortable, committed before returning, and not
// flushed to disk (staging: the swap's commit flushes everything before it).
const STAGING_TXN = 1 | 2 | 0x10000;
const APPEND = { append: true };

/**
 * LMDB persistence: one environment per state directory, a named database per
 * partition (binary keys and values), an `offsets` database holding each
 * partition's next offset, and a `meta` database. All of them share one write
 * queue, so a commit across partitions is one LMDB transaction.
 */
export class LmdbBackend implements Backend {
  readonly persistent = true;
  private readonly partitionDbs = new Map<string, BinaryDb>();
  // A second handle per partition for transientEntries(); opened with the
  // first, before any snapshot's read transaction (see the constructor).
  private readonly viewingDbs = new Map<string, ViewingHandle>();
  private readonly known = new Map<string, TopicPartition>();
  private closed = false;

  private constructor(
    private readonly root: RootDatabase,
    private readonly meta: Database<unknown, string>,
    private readonly offsets: Database<string | null, OffsetKey>,
    private readonly file: string,
  ) {
    for (const { key } of this.offsets.getRange({})) {
      const [topic, partition] = key;
      this.known.set(topicPartitionKey(topic, partition), { topic, partition });
    }
    // Open every partition's database now, after the walk above (opening one
    // while a cursor is open invalidates the cursor's read transaction in a
    // read-only environment): LMDB refuses (EINVAL) a database handle opened
    // after a read transaction began, so a snapshot must never be the first
    // to open one.
    for (const tp of this.known.values()) this.db(tp);
  }

  /** Opens (creating if needed) the environment inside `dir`. */
  static open(dir: string, options: LmdbBackendOptions): LmdbBackend {
    const file = path.join(dir, LMDB_FILE);
    let root: RootDatabase;
    try {
      if (options.readOnly === true && !fs.existsSync(file))
        throw Object.assign(new Error(`no ${LMDB_FILE} in ${dir}`), { code: 'ENOENT' });
      root = open({
        path: file,
        noSubdir: true,
        // Two named databases per partition: its live state and a restore's staging.
        maxDbs: options.maxPartitions * 2 + 4,
        overlappingSync: true,
        readOnly: options.readOnly === true,
      });
    } catch (err) {
      throw storageFailure(`cannot open LMDB environment ${file}`, err);
    }
    if (options.readOnly !== true) {
      for (const f of [file, `${file}-lock`]) {
        if (fs.existsSync(f)) fs.chmodSync(f, FILE_MODE);
      }
    }
    const meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack' });
    const offsets = root.openDB<string | null, OffsetKey>({ name: 'offsets', encoding: 'msgpack' });
    return new LmdbBackend(root, meta, offsets, file);
  }

  get schemaVersion(): number | undefined {
    const v = this.meta.get(META_SCHEMA);
    return typeof v === 'number' ? v : undefined;
  }

  get(tp: TopicPartition, key: Buffer): Buffer | undefined {
    const db = this.existingDb(tp);
    const raw = db?.getBinaryFast(key) as Buffer | undefined;
    // lmdb-js returns its shared read buffer with an own `length` property
    // set to the value's size; a plain view of that length behaves like any
    // Buffer (Buffer.from() on the original throws "offset is out of bounds").
    return raw === undefined ? undefined : raw.subarray(0, raw.length);
  }

  *range(tp: TopicPartition, range: RawRange): Iterable<RawEntry> {
    const db = this.existingDb(tp);
    if (db === undefined) return;
    // Reverse iteration in lmdb-js walks from `start` down to `end`.
    const opts = range.reverse
      ? { start: range.end, end: range.start, reverse: true, exclusiveStart: true, inclusiveEnd: true }
      : { start: range.start, end: range.end };
    for (const { key, value } of db.getRange(opts)) yield { key, value };
  }

  entryCount(tp: TopicPartition): number {
    const db = this.existingDb(tp);
    return db === undefined ? 0 : (db.getStats() as { entryCount: number }).entryCount;
  }

  partitions(): TopicPartition[] {
    return [...this.known.values()].sort(compareTopicPartitions);
  }

  offset(tp: TopicPartition): string | undefined {
    return this.offsets.get([tp.topic, tp.partition]) ?? undefined;
  }

  write(writes: readonly PartitionWrite[]): void {
    const dbs = writes.map((w) => this.db(w.tp));
    this.durably('commit', () => {
      for (let i = 0; i < writes.length; i++) {
        const w = writes[i]!;
        const db = dbs[i]!;
        for (let j = 0; j < w.size; j++) {
          const value = w.value(j);
          if (value === null) db.removeSync(w.key(j));
          else db.putSync(w.key(j), value);
        }
        const tpk: OffsetKey = [w.tp.topic, w.tp.partition];
        if (w.offset !== undefined) this.offsets.putSync(tpk, w.offset);
        else if (!this.known.has(topicPartitionKey(w.tp.topic, w.tp.partition))) this.offsets.putSync(tpk, null);
      }
    });
    for (const w of writes)
      this.known.set(topicPartitionKey(w.tp.topic, w.tp.partition), { topic: w.tp.topic, partition: w.tp.partition });
  }

  replacePartition(tp: TopicPartition, entries: Iterable<RawEntry>, offset: string | undefined): void {
    const db = this.db(tp);
    this.durably('restore', () => {
      db.clearSync();
      for (const e of entries) db.putSync(e.key, e.value);
      this.offsets.putSync([tp.topic, tp.partition], offset ?? null);
    });
    this.known.set(topicPartitionKey(tp.topic, tp.partition), { topic: tp.topic, partition: tp.partition });
  }

  stagePartition(tp: TopicPartition): PartitionStaging {
    const k = topicPartitionKey(tp.topic, tp.partition);
    const live = this.liveName(k);
    const name = live === `p:${k}` ? `p:${k}~1` : `p:${k}`;
    const db = this.root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
    this.durably('restore', () => db.clearSync()); // a staging that died
    let aborted = false;
    const staging: LmdbStaging = {
      tp: { topic: tp.topic, partition: tp.partition },
      name,
      db,
      keepsRecordViews: false, // putSync copies key and value into the transaction at once
      apply: (records: Iterable<RestoreRecord>, ascending: boolean) => {
        if (aborted) throw new Error(`restore of ${k} was aborted`);
        this.durably(
          'restore',
          () => {
            for (const r of records) {
              if (r.value === null) db.removeSync(r.key);
              else if (ascending) db.putSync(r.key, r.value, APPEND);
              else db.putSync(r.key, r.value);
            }
          },
          STAGING_TXN,
        );
      },
      abort: () => {
        aborted = true;
        try {
          this.root.transactionSync(() => db.clearSync(), STAGING_TXN);
        } catch {
          // best effort: the next staging clears it
        }
      },
    };
    return staging;
  }

  async flushStaged(): Promise<void> {
    // LMDB writes with pwrite: the pages are the file's, and an fdatasync on
    // any descriptor of it (in libuv's thread pool) flushes them.
    const fh = await fs.promises.open(this.file, 'r');
    try {
      await fh.datasync();
    } catch (err) {
      throw storageFailure(`restore: cannot flush ${this.file}`, err);
    } finally {
      await fh.close();
    }
  }

  commitStaged(items: ReadonlyArray<{ staging: PartitionStaging; offset: string | undefined }>): void {
    const staged = items.map((i) => ({ s: i.staging as LmdbStaging, offset: i.offset }));
    this.durably('restore', () => {
      for (const { s, offset } of staged) {
        const k = topicPartitionKey(s.tp.topic, s.tp.partition);
        this.meta.putSync(`${META_DB}${k}`, s.name);
        this.offsets.putSync([s.tp.topic, s.tp.partition], offset ?? null);
      }
    });
    for (const { s } of staged) {
      const k = topicPartitionKey(s.tp.topic, s.tp.partition);
      const old = this.partitionDbs.get(k);
      this.partitionDbs.set(k, s.db);
      this.viewingDbs.set(k, viewingHandle(this.root, s.name));
      this.known.set(k, { ...s.tp });
      // Free the previous state (a crash before this leaves it to the next staging's clear).
      if (old !== undefined) {
        try {
          this.root.transactionSync(() => old.clearSync(), STAGING_TXN);
        } catch {
          // the next staging of this partition clears it
        }
      }
    }
  }

  dropPartition(tp: TopicPartition): void {
    const db = this.existingDb(tp);
    this.durably('drop', () => {
      if (db !== undefined) db.clearSync();
      this.offsets.removeSync([tp.topic, tp.partition]);
    });
    this.known.delete(topicPartitionKey(tp.topic, tp.partition));
  }

  migrate(toVersion: number, transform: (tp: TopicPartition, entry: RawEntry) => Buffer | null): void {
    // One synchronous write transaction: a throw from `transform` aborts it
    // and nothing changes. Each partition's entries are read before any of
    // them is rewritten, so the cursor never walks over its own writes.
    this.root.transactionSync(() => {
      for (const tp of this.partitions()) {
        const db = this.db(tp);
        const entries: RawEntry[] = [];
        for (const { key, value } of db.getRange({})) entries.push({ key, value: Buffer.from(value) });
        for (const entry of entries) {
          const next = transform(tp, entry);
          if (next === null) db.removeSync(entry.key);
          else db.putSync(entry.key, next);
        }
      }
      this.meta.putSync(META_SCHEMA, toVersion);
    });
  }

  initSchema(version: number): void {
    this.durably('init', () => this.meta.putSync(META_SCHEMA, version));
  }

  snapshot(): BackendSnapshot {
    // Every known partition's database is already open (constructor, or the
    // write that made it known): none is opened under this transaction.
    const txn = this.root.useReadTransaction();
    // The handles of this instant: a restore swapping a partition's database
    // later must not change what this snapshot reads.
    const dbs = new Map(this.partitionDbs);
    const views = new Map(this.viewingDbs);
    const schemaVersion = (this.meta.get(META_SCHEMA, { transaction: txn }) as number | undefined) ?? 0;
    const offsets = new Map<string, { tp: TopicPartition; offset: string | null }>();
    for (const { key, value } of this.offsets.getRange({ transaction: txn })) {
      offsets.set(topicPartitionKey(key[0], key[1]), { tp: { topic: key[0], partition: key[1] }, offset: value });
    }
    let released = false;
    const check = (): void => {
      if (released) throw new Error('snapshot already released');
    };
    return {
      schemaVersion,
      partitions: () => [...offsets.values()].map((o) => o.tp).sort(compareTopicPartitions),
      offset: (tp) => offsets.get(topicPartitionKey(tp.topic, tp.partition))?.offset ?? undefined,
      entryCount: (tp) => {
        check();
        const db = dbs.get(topicPartitionKey(tp.topic, tp.partition));
        if (db === undefined) return 0;
        let n = 0;
        for (const _ of db.getKeys({ transaction: txn })) n++;
        return n;
      },
      get: (tp, key) => {
        check();
        const db = this.existingDb(tp);
        if (db === undefined) return undefined;
        // getBinary takes the read transaction like get() (its typings omit the options).
        const getBinary = db.getBinary as (k: Buffer, o: { transaction: unknown }) => Buffer | undefined;
        return getBinary.call(db, key, { transaction: txn }) ?? undefined;
      },
      entries: (tp) => {
        check();
        const db = dbs.get(topicPartitionKey(tp.topic, tp.partition));
        if (db === undefined) return [];
        // lmdb-js hands out a fresh copy of every binary key and value from
        // getRange (never a view of its reused read buffer), so the entries
        // are the caller's as they come: a second copy here cost a third of
        // a 1M-entry checkpoint.
        return db.getRange({ transaction: txn }) as Iterable<RawEntry>;
      },
      transientEntries: (tp) => {
        check();
        const db = dbs.get(topicPartitionKey(tp.topic, tp.partition));
        if (db === undefined) return [];
        const viewing = views.get(topicPartitionKey(tp.topic, tp.partition))!;
        return (function* () {
          for (const { key } of viewing.db.getRange({ transaction: txn })) {
            // The decoder ran for this entry's value just before it was yielded.
            yield { key, value: viewing.value() };
          }
        })();
      },
      release: () => {
        if (released) return;
        released = true;
        txn.done();
      },
    };
  }

  async backup(targetFile: string): Promise<void> {
    await this.root.backup(targetFile, false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  /**
   * Runs `body` in one LMDB write transaction and maps low-level failures to
   * {@link StorageError}. `transactionSync` commits and fdatasyncs before it
   * returns (checked with strace), so the data is durable on return and a
   * failure (EIO on a full disk) is a plain synchronous throw; if `body`
   * throws, the transaction is aborted. lmdb-js's asynchronous writes instead
   * report a failed commit through a second `commitError` promise that
   * nobody awaits, which crashes the process with an unhandled rejection.
   */
  private durably(what: string, body: () => void, flags?: number): void {
    try {
      this.root.transactionSync(body, flags);
    } catch (err) {
      if (err instanceof TidemarkError) throw err;
      throw storageFailure(`${what} failed in ${this.file}; nothing of it was applied`, err);
    }
  }

  private existingDb(tp: TopicPartition): BinaryDb | undefined {
    const k = topicPartitionKey(tp.topic, tp.partition);
    return this.partitionDbs.get(k) ?? (this.known.has(k) ? this.db(tp) : undefined);
  }

  private db(tp: TopicPartition): BinaryDb {
    const k = topicPartitionKey(tp.topic, tp.partition);
    let db = this.partitionDbs.get(k);
    if (db === undefined) {
      const name = this.liveName(k);
      db = this.root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
      this.partitionDbs.set(k, db);
      this.viewingDbs.set(k, viewingHandle(this.root, name));
    }
    return db;
  }

  // The named database holding a partition's live state.
  private liveName(k: string): string {
    const v = this.meta.get(`${META_DB}${k}`);
    return typeof v === 'string' ? v : `p:${k}`;
  }
}

interface LmdbStaging extends PartitionStaging {
  /** The named database staged into. */
  name: string;
  db: BinaryDb;
}

interface ViewingHandle {
  db: Database<unknown, Buffer>;
  /** The value the decoder saw last (a view, valid until the next read). */
  value(): Buffer;
}

// lmdb-js copies every binary value out of its shared read buffer into a new
// Buffer; with a custom decoder it hands that shared buffer to the decoder
// instead (`decoderCopies`), so the decoder can keep a view. For 1 KB values
// this halves the walk of a checkpoint (measured: 123 -> 60 ms per 100k).
function viewingHandle(root: RootDatabase, name: string): ViewingHandle {
  let last: Buffer = Buffer.alloc(0);
  const db = root.openDB<unknown, Buffer>({
    name,
    keyEncoding: 'binary',
    encoder: {
      encode: (v: unknown) => v as Buffer,
      decode: (buf: Buffer, size: number) => {
        last = buf.subarray(0, size);
        return true;
      },
    },
  } as never);
  return { db, value: () => last };
}
