// Shared by the checkpoint tests: stores with known content, repositories on
// real directories, byte-exact views of stored state, and a storage wrapper
// that injects faults through the CheckpointStorage interface.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onTestFinished } from 'vitest';
import {
  CheckpointRepository,
  LocalDirectoryStorage,
  StateStore,
  type CheckpointRepositoryOptions,
  type CheckpointStorage,
  type ObjectWriter,
  type TopicPartition,
} from '../../src/index.js';
import { ForwardingStorage } from '../../src/checkpoint/forwarding-storage.js';
import { tmpDir } from '../helpers/tmp.js';

/** A record as a restore hands it to staging (a null value deletes the key). */
export type StagedRecord = { key: Buffer; value: Buffer | null };

/**
 * Calls `before` ahead of every slice a restore into `store` applies to its
 * staging; what it returns (say, a copy it counted) is applied instead.
 */
export function onStagingApply(
  store: StateStore,
  before: (records: Iterable<StagedRecord>, ascending: boolean) => Iterable<StagedRecord> | undefined,
): void {
  const begin = store.beginRestore.bind(store);
  store.beginRestore = (tp) => {
    const staging = begin(tp);
    const apply = staging.apply.bind(staging);
    return Object.assign(staging, {
      apply: (records: Iterable<StagedRecord>, ascending: boolean) =>
        apply(before(records, ascending) ?? records, ascending),
    });
  };
}

/** A StateStore on a fresh directory, closed after the test. */
export async function openStore(
  dir = path.join(tmpDir('ckstore'), 'state'),
  schemaVersion?: number,
): Promise<StateStore> {
  const store = await StateStore.open({
    path: dir,
    cacheEntries: 100_000,
    sweepIntervalMs: 0,
    ...(schemaVersion ? { schemaVersion } : {}),
  });
  onTestFinished(() => store.close().catch(() => undefined));
  return store;
}

/** A repository on `dir` (a fresh one by default), closed after the test. */
export function openRepo(
  dir = tmpDir('ckrepo'),
  extra: Partial<CheckpointRepositoryOptions> = {},
): CheckpointRepository {
  const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dir }), ...extra });
  onTestFinished(() => repo.close());
  return repo;
}

/** Puts `n` entries `k<i>` -> { i, tag, pad } into a partition and commits them with `offset`. */
export async function fill(
  store: StateStore,
  tp: TopicPartition,
  n: number,
  offset: number | string,
  tag = 'v1',
): Promise<void> {
  const p = store.partition(tp.topic, tp.partition);
  for (let i = 0; i < n; i++) p.put(`k${String(i).padStart(6, '0')}`, { i, tag, pad: 'x'.repeat(i % 40) });
  await store.commit([{ topic: tp.topic, partition: tp.partition, offset }]);
}

/** Every stored entry of a partition as hex `key=value` strings, plus its offset: byte-exact state. */
export async function rawState(
  store: StateStore,
  tp: TopicPartition,
): Promise<{ offset: string | undefined; entries: string[] }> {
  const snap = await store.snapshot();
  try {
    const entries = [...snap.entries(tp)].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);
    return { offset: snap.offset(tp), entries };
  } finally {
    snap.release();
  }
}

/** Writes a checkpoint of the store's current state. */
export async function checkpointNow(store: StateStore, repo: CheckpointRepository, partitions?: TopicPartition[]) {
  const snap = await store.snapshot();
  try {
    const info = await repo.write(snap, partitions === undefined ? {} : { partitions });
    if (info === undefined) throw new Error('nothing was checkpointed');
    return info;
  } finally {
    snap.release();
  }
}

/** Every file under `dir` (relative, sorted), with its size. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(`${path.relative(dir, full)} ${fs.statSync(full).size}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** Flips one bit of a file in place. */
export function flipBit(file: string, byte: number, bit = 0): void {
  const b = fs.readFileSync(file);
  b[byte]! ^= 1 << bit;
  fs.writeFileSync(file, b);
}

/** A system-style error with a code, as fs raises. */
export function errno(code: string, message = code): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/**
 * Wraps a storage and fails a chosen operation, like a disk would: `failWrite`
 * after that many bytes of one object (ENOSPC mid-file), `failCommit` on a
 * key's commit (EIO at fsync), `failRead` on reads of a key.
 */
export class FaultyStorage extends ForwardingStorage {
  failWrite: { match: RegExp; afterBytes: number; code: string } | undefined;
  failCommit: { match: RegExp; code: string } | undefined;
  failRead: { match: RegExp; code: string } | undefined;

  constructor(inner: CheckpointStorage) {
    super(inner, `faulty(${inner.location})`);
  }

  override async create(key: string): Promise<ObjectWriter> {
    const w = await this.inner.create(key);
    let written = 0;
    return {
      write: async (chunk) => {
        const f = this.failWrite;
        if (f?.match.test(key) && written + chunk.length > f.afterBytes) {
          throw errno(f.code, `injected while writing ${key}`);
        }
        written += chunk.length;
        await w.write(chunk);
      },
      commit: async () => {
        const f = this.failCommit;
        if (f?.match.test(key)) {
          await w.abort();
          throw errno(f.code, `injected at commit of ${key}`);
        }
        return w.commit();
      },
      abort: () => w.abort(),
    };
  }

  override read(key: string, options?: { maxBytes?: number }): Promise<Buffer> {
    if (this.failRead?.match.test(key)) return Promise.reject(errno(this.failRead.code, `injected reading ${key}`));
    return this.inner.read(key, options);
  }

  override readChunks(key: string, options?: { chunkBytes?: number }): AsyncIterable<Buffer> {
    if (this.failRead?.match.test(key)) {
      const code = this.failRead.code;
      return {
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(errno(code, `injected reading ${key}`)) }),
      };
    }
    return this.inner.readChunks(key, options);
  }
}
