import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointKeyError,
  CheckpointNotFoundError,
  CheckpointRepository,
  ConfigError,
  LocalDirectoryStorage,
  SchemaVersionError,
  StateStore,
  TidemarkError,
} from '../../src/index.js';
import { keyFingerprint } from '../../src/checkpoint/encryption.js';
import { decodeValue } from '../../src/state/value-codec.js';
import { decodeKey } from '../../src/state/key-codec.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, filesUnder, openRepo, openStore, rawState } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };
const B0 = { topic: 'payments', partition: 0 };

describe('checkpoint repository: write, list, restore', () => {
  it('restores every partition byte for byte with its offset, into a fresh store', async () => {
    const store = await openStore();
    await fill(store, A0, 500, 1000);
    await fill(store, A1, 20, 77);
    await fill(store, B0, 0, 5); // an offset and no entries
    const repo = openRepo();
    const info = await checkpointNow(store, repo);
    expect(info.status).toBe('valid');
    expect(info.partitions.map((p) => [p.topic, p.partition, p.offset, p.entries])).toEqual([
      ['orders', 0, '1000', 500],
      ['orders', 1, '77', 20],
      ['payments', 0, '5', 0],
    ]);
    const target = await openStore();
    const result = await repo.restore(target);
    expect(result.skipped).toEqual([]);
    expect(result.missing).toEqual([]);
    expect(result.restored.map((r) => [r.topic, r.partition, r.offset, r.entries, r.checkpointId])).toEqual([
      ['orders', 0, '1000', 500, info.id],
      ['orders', 1, '77', 20, info.id],
      ['payments', 0, '5', 0, info.id],
    ]);
    for (const tp of [A0, A1, B0]) expect(await rawState(target, tp)).toEqual(await rawState(store, tp));
    expect(target.partition('orders', 0).get('k000123')).toEqual({ i: 123, tag: 'v1', pad: 'x'.repeat(123 % 40) });
  });

  it('lists checkpoints newest first with their figures, and describes one by id', async () => {
    const store = await openStore();
    await fill(store, A0, 50, 10);
    const repo = openRepo();
    const first = await checkpointNow(store, repo);
    await fill(store, A0, 60, 20, 'v2');
    const second = await checkpointNow(store, repo);
    const list = await repo.list();
    expect(list.map((c) => c.id)).toEqual([second.id, first.id]);
    const c = list[0]!;
    expect(c).toMatchObject({
      status: 'valid',
      quarantined: false,
      entries: 60,
      encryption: { algorithm: 'none', keyAvailable: true },
    });
    expect(c.createdAt).toBeInstanceOf(Date);
    expect(c.partitions[0]).toMatchObject({
      topic: 'orders',
      partition: 0,
      offset: '20',
      entries: 60,
      file: 'orders.0.seg',
    });
    expect(c.partitions[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(c.rawBytes).toBeGreaterThan(c.partitions[0]!.storedBytes);
    expect(c.storedBytes).toBeGreaterThan(c.partitions[0]!.storedBytes); // plus the manifest
    expect(c.manifest).toMatchObject({
      formatVersion: 2,
      schemaVersion: 1,
      compression: { codec: 'zstd', level: 3 },
      writer: { pid: process.pid },
    });
    expect((await repo.get(first.id)).partitions[0]!.offset).toBe('10');
    await expect(repo.get('20200101T000000000Z-0000000000000000')).rejects.toBeInstanceOf(CheckpointNotFoundError);
    await expect(repo.get('nonsense')).rejects.toBeInstanceOf(CheckpointNotFoundError);
  });

  it('checkpoints only the partitions asked for; none with state means no checkpoint', async () => {
    const store = await openStore();
    await fill(store, A0, 10, 1);
    await fill(store, B0, 10, 2);
    const repo = openRepo();
    const snap = await store.snapshot();
    try {
      const info = await repo.write(snap, { partitions: [B0, { topic: 'unknown', partition: 3 }] });
      expect(info!.partitions.map((p) => p.topic)).toEqual(['payments']);
      expect(await repo.write(snap, { partitions: [{ topic: 'unknown', partition: 3 }] })).toBeUndefined();
      await expect(repo.write(snap, { partitions: [{ topic: 'bad topic!', partition: 0 }] })).rejects.toThrow(
        /invalid topic/,
      );
    } finally {
      snap.release();
    }
    expect((await repo.list()).length).toBe(1);
  });

  it('restores one partition in one transaction, leaving the others alone', async () => {
    const store = await openStore();
    await fill(store, A0, 100, 100);
    await fill(store, A1, 100, 200);
    const repo = openRepo();
    await checkpointNow(store, repo);
    const target = await openStore();
    await fill(target, A0, 5, 5, 'local'); // to be replaced
    await fill(target, A1, 7, 7, 'local'); // to be kept
    const beforeA1 = await rawState(target, A1);
    const result = await repo.restore(target, { partitions: [A0] });
    expect(result.restored.map((r) => `${r.topic}:${r.partition}@${r.offset}`)).toEqual(['orders:0@100']);
    expect(await rawState(target, A0)).toEqual(await rawState(store, A0));
    expect(await rawState(target, A1)).toEqual(beforeA1);
    expect(target.partition('orders', 0).get('k000000')).toMatchObject({ tag: 'v1' }); // the cache does not serve the old value
  });

  it('each partition from the newest valid checkpoint holding it; partitions none holds are missing', async () => {
    const store = await openStore();
    const repo = openRepo();
    await fill(store, A0, 10, 10);
    await fill(store, A1, 10, 10);
    const both = await checkpointNow(store, repo);
    await fill(store, A0, 20, 20, 'v2');
    const onlyA0 = await checkpointNow(store, repo, [A0]);
    const target = await openStore();
    const result = await repo.restore(target, { partitions: [A1, A0, B0, A0] });
    expect(result.restored.map((r) => `${r.partition}:${r.checkpointId}:${r.offset}`)).toEqual([
      `0:${onlyA0.id}:20`,
      `1:${both.id}:10`,
    ]);
    expect(result.missing).toEqual([B0]);
  });

  it('restores a given checkpoint id, or one partition of it', async () => {
    const store = await openStore();
    const repo = openRepo();
    await fill(store, A0, 10, 10);
    const old = await checkpointNow(store, repo);
    const oldState = await rawState(store, A0);
    await fill(store, A0, 30, 30, 'v2');
    await checkpointNow(store, repo);
    const target = await openStore();
    const r = await repo.restore(target, { id: old.id });
    expect(r.restored.map((x) => x.offset)).toEqual(['10']);
    expect(await rawState(target, A0)).toEqual(oldState);
    const r2 = await repo.restore(target, { id: old.id, partitions: [A0, B0] });
    expect(r2.missing).toEqual([B0]);
    await expect(repo.restore(target, { id: '20200101T000000000Z-0000000000000000' })).rejects.toBeInstanceOf(
      CheckpointNotFoundError,
    );
  });

  it('an empty directory restores nothing', async () => {
    const repo = openRepo();
    const target = await openStore();
    expect(await repo.restore(target)).toEqual({ restored: [], skipped: [], missing: [] });
    expect(await repo.restore(target, { partitions: [A0] })).toEqual({ restored: [], skipped: [], missing: [A0] });
    expect(await repo.list()).toEqual([]);
  });

  it('refuses to restore over uncommitted changes, before replacing anything', async () => {
    const store = await openStore();
    const repo = openRepo();
    await fill(store, A0, 10, 10);
    await fill(store, A1, 10, 10);
    await checkpointNow(store, repo);
    const target = await openStore();
    await fill(target, A0, 3, 3, 'local');
    const before = await rawState(target, A0);
    target.partition('orders', 1).put('dirty', 1);
    await expect(repo.restore(target)).rejects.toMatchObject({ code: 'ERR_TIDEMARK_UNCOMMITTED' });
    expect(await rawState(target, A0)).toEqual(before);
  });

  it('refuses state written by another schema version, before replacing anything', async () => {
    const store = await openStore();
    const repo = openRepo();
    await fill(store, A0, 10, 10);
    await checkpointNow(store, repo);
    const target = await openStore(undefined, 2);
    await expect(repo.restore(target)).rejects.toBeInstanceOf(SchemaVersionError);
    expect((await rawState(target, A0)).entries).toEqual([]);
  });

  it('readEntries gives the verified raw records of one partition, decodable with the state codecs', async () => {
    const store = await openStore();
    const repo = openRepo();
    store.partition('orders', 0).scope('tenant').put('a', { x: 1 }, { ttlMs: 60_000 });
    await fill(store, A0, 3, 3);
    const info = await checkpointNow(store, repo);
    const { partition, entries } = await repo.readEntries(info.id, A0);
    expect(partition.entries).toBe(4);
    const decoded = [...entries].map((e) => ({ ...decodeKey(e.key), ...decodeValue(e.value) }));
    expect(decoded.map((d) => [d.scope, d.key])).toEqual([
      ['', 'k000000'],
      ['', 'k000001'],
      ['', 'k000002'],
      ['tenant', 'a'],
    ]);
    expect(decoded[3]!.value).toEqual({ x: 1 });
    expect(decoded[3]!.ttlMs).toBe(60_000);
    expect([...entries].length).toBe(4); // iterable again
    await expect(repo.readEntries(info.id, B0)).rejects.toBeInstanceOf(CheckpointNotFoundError);
  });

  it('verify re-reads every byte of every checkpoint', async () => {
    const store = await openStore();
    const repo = openRepo();
    await fill(store, A0, 100, 10);
    await fill(store, A1, 100, 10);
    const info = await checkpointNow(store, repo);
    const [v] = await repo.verify(info.id);
    expect(v).toMatchObject({ id: info.id, status: 'valid' });
    expect(v!.partitions.map((p) => p.ok)).toEqual([true, true]);
    expect((await repo.verify()).length).toBe(1);
  });

  it('validates its options with ConfigError', () => {
    const storage = new LocalDirectoryStorage({ path: tmpDir('ck') });
    const bad: Array<Record<string, unknown>> = [
      {},
      { storage: {} },
      { storage, key: Buffer.alloc(16) },
      { storage, key: 'secret' },
      { storage, previousKeys: Buffer.alloc(32) },
      { storage, previousKeys: [Buffer.alloc(31)] },
      { storage, compressionLevel: 0 },
      { storage, compressionLevel: 23 },
      { storage, compressionLevel: 2.5 },
      { storage, readerMarkerTtlMs: 10 },
      { storage, clock: {} },
      { storage, nope: 1 },
    ];
    for (const o of bad)
      expect(() => new CheckpointRepository(o as never), JSON.stringify(Object.keys(o))).toThrow(ConfigError);
    expect(() => new CheckpointRepository(null as never)).toThrow(ConfigError);
  });

  it('honours the compression level', async () => {
    const store = await openStore();
    await fill(store, A0, 2000, 10);
    const fast = await checkpointNow(store, openRepo(tmpDir('ck'), { compressionLevel: 1 }));
    const best = await checkpointNow(store, openRepo(tmpDir('ck'), { compressionLevel: 19 }));
    expect(fast.manifest!.compression.level).toBe(1);
    expect(best.manifest!.compression.level).toBe(19);
    expect(best.partitions[0]!.storedBytes).toBeLessThan(fast.partitions[0]!.storedBytes);
  });
});

describe('checkpoint repository: encryption at rest', () => {
  it('encrypts segments (no plaintext on disk) and restores with the key', async () => {
    const store = await openStore();
    const p = store.partition('orders', 0);
    for (let i = 0; i < 200; i++) p.put(`secret-key-${i}`, { card: `4111-1111-${i}` });
    await store.commit([{ ...A0, offset: 9 }]);
    const key = randomBytes(32);
    const dir = tmpDir('ck');
    const repo = openRepo(dir, { key });
    const info = await checkpointNow(store, repo);
    expect(info.manifest!.encryption).toEqual({ algorithm: 'aes-256-gcm', keyFingerprint: keyFingerprint(key) });
    const seg = fs.readFileSync(path.join(dir, info.id, 'orders.0.seg'));
    expect(seg.includes(Buffer.from('secret-key'))).toBe(false);
    expect(seg.readUInt32LE(0)).not.toBe(0xfd2fb528);
    const target = await openStore();
    await repo.restore(target);
    expect(await rawState(target, A0)).toEqual(await rawState(store, A0));
  });

  it('a wrong or missing key is a clear error up front: nothing read, nothing quarantined, nothing replaced', async () => {
    const store = await openStore();
    await fill(store, A0, 50, 10);
    const dir = tmpDir('ck');
    const key = randomBytes(32);
    const info = await checkpointNow(store, openRepo(dir, { key }));
    const before = filesUnder(dir);
    const target = await openStore();
    await fill(target, A0, 2, 2, 'local');
    const local = await rawState(target, A0);
    for (const repo of [openRepo(dir, { key: randomBytes(32) }), openRepo(dir)]) {
      const listed = await repo.list();
      expect(listed[0]).toMatchObject({
        status: 'valid',
        encryption: { algorithm: 'aes-256-gcm', keyAvailable: false },
      });
      for (const attempt of [
        () => repo.restore(target),
        () => repo.restore(target, { partitions: [A0] }),
        () => repo.restore(target, { id: info.id }),
        () => repo.readEntries(info.id, A0),
      ]) {
        const err = await attempt().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CheckpointKeyError);
        expect(err).toMatchObject({
          code: 'ERR_TIDEMARK_CHECKPOINT_KEY',
          checkpointId: info.id,
          keyFingerprint: keyFingerprint(key),
        });
        expect((err as Error).message).toMatch(new RegExp(`fingerprint is ${keyFingerprint(key)}`));
      }
      const [v] = await repo.verify(info.id);
      expect(v).toMatchObject({ status: 'unsupported' });
    }
    expect(filesUnder(dir)).toEqual(before);
    expect(await rawState(target, A0)).toEqual(local);
  });

  it('reads checkpoints written with a previous key (rotation); writes with the new one', async () => {
    const store = await openStore();
    await fill(store, A0, 50, 10);
    const dir = tmpDir('ck');
    const oldKey = randomBytes(32);
    await checkpointNow(store, openRepo(dir, { key: oldKey }));
    const newKey = randomBytes(32);
    const repo = openRepo(dir, { key: newKey, previousKeys: [oldKey] });
    const target = await openStore();
    expect((await repo.restore(target)).restored.length).toBe(1);
    const fresh = await checkpointNow(store, repo);
    expect(fresh.manifest!.encryption).toMatchObject({ keyFingerprint: keyFingerprint(newKey) });
  });

  it('errors have stable codes and names', () => {
    const err = new CheckpointKeyError('m', 'id', 'fp');
    expect(err).toBeInstanceOf(TidemarkError);
    expect(err.name).toBe('CheckpointKeyError');
    expect(CheckpointKeyError.code).toBe('ERR_TIDEMARK_CHECKPOINT_KEY');
  });
});

describe('checkpoint repository: the worker thread', () => {
  it('restores from a store reopened in another process-like lifetime (files only, no shared memory)', async () => {
    const dir = tmpDir('ck');
    const stateDir = path.join(tmpDir('st'), 'state');
    let expected: Awaited<ReturnType<typeof rawState>>;
    {
      const store = await StateStore.open({ path: stateDir });
      await fill(store, A0, 300, 42);
      const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dir }) });
      await checkpointNow(store, repo);
      expected = await rawState(store, A0);
      await repo.close();
      await store.close();
    }
    fs.rmSync(stateDir, { recursive: true }); // the disk is lost
    const store = await openStore(stateDir);
    const repo = openRepo(dir);
    await repo.restore(store);
    expect(await rawState(store, A0)).toEqual(expected);
  });
});
