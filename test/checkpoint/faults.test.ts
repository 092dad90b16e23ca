import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointRepository, LocalDirectoryStorage, StorageError, type StateStore } from '../../src/index.js';
import { canMountTmpfs, smallFilesystem } from '../helpers/tmpfs.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, FaultyStorage, fill, filesUnder, openStore, rawState } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };

async function setup() {
  const dir = tmpDir('ckfault');
  const faulty = new FaultyStorage(new LocalDirectoryStorage({ path: dir }));
  const repo = new CheckpointRepository({ storage: faulty });
  const store = await openStore();
  await fill(store, A0, 2000, 10);
  await fill(store, A1, 2000, 10);
  const good = await checkpointNow(store, repo);
  const goodState = [await rawState(store, A0), await rawState(store, A1)];
  await fill(store, A0, 3000, 20, 'v2');
  await fill(store, A1, 3000, 20, 'v2');
  return { dir, faulty, repo, store, good, goodState };
}

async function expectOnlyGood(s: Awaited<ReturnType<typeof setup>>): Promise<void> {
  // Nothing of the failed checkpoint is left: no segment, no temp file.
  const files = filesUnder(s.dir);
  expect(
    files.every((f) => f.startsWith(`${s.good.id}/`)),
    files.join('\n'),
  ).toBe(true);
  expect((await s.repo.list()).map((c) => [c.id, c.status])).toEqual([[s.good.id, 'valid']]);
  const target = await openStore();
  const r = await s.repo.restore(target);
  expect(r.restored.map((x) => x.checkpointId)).toEqual([s.good.id, s.good.id]);
  expect([await rawState(target, A0), await rawState(target, A1)]).toEqual(s.goodState);
}

describe('filesystem faults while writing a checkpoint (injected through the storage interface)', () => {
  const cases: Array<[string, (f: FaultyStorage) => void, string]> = [
    [
      'ENOSPC in the middle of the first segment',
      (f) => (f.failWrite = { match: /orders\.0\.seg$/, afterBytes: 100, code: 'ENOSPC' }),
      'ENOSPC',
    ],
    [
      'ENOSPC in the second segment, after the first was published',
      (f) => (f.failWrite = { match: /orders\.1\.seg$/, afterBytes: 0, code: 'ENOSPC' }),
      'ENOSPC',
    ],
    ['EIO at the fsync of a segment', (f) => (f.failCommit = { match: /orders\.1\.seg$/, code: 'EIO' }), 'EIO'],
    [
      'ENOSPC writing the manifest',
      (f) => (f.failWrite = { match: /manifest$/, afterBytes: 10, code: 'ENOSPC' }),
      'ENOSPC',
    ],
    ['EIO at the fsync of the manifest', (f) => (f.failCommit = { match: /manifest$/, code: 'EIO' }), 'EIO'],
  ];

  it.each(cases)(
    '%s: a StorageError, nothing half-written left, earlier checkpoints intact, the next one works',
    async (_, inject, code) => {
      const s = await setup();
      inject(s.faulty);
      const err = await checkpointNow(s.store, s.repo).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ code: 'ERR_TIDEMARK_STORAGE', syscallCode: code });
      expect((err as Error).message).toMatch(/was not written/);
      await expectOnlyGood(s);
      s.faulty.failWrite = undefined;
      s.faulty.failCommit = undefined;
      const next = await checkpointNow(s.store, s.repo);
      expect((await s.repo.verify(next.id))[0]!.status).toBe('valid');
      await s.repo.close();
    },
  );

  it('EIO reading a segment during restore: a StorageError, nothing replaced, nothing quarantined', async () => {
    const s = await setup();
    const newest = await checkpointNow(s.store, s.repo);
    s.faulty.failRead = { match: /orders\.1\.seg$/, code: 'EIO' };
    const target = await openStore();
    await fill(target, A0, 5, 5, 'local');
    const before = await rawState(target, A0);
    const err = await s.repo.restore(target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ syscallCode: 'EIO' });
    expect(await rawState(target, A0)).toEqual(before);
    expect((await s.repo.list()).map((c) => c.id)).toEqual([newest.id, s.good.id]);
    expect(await s.repo.listQuarantined()).toEqual([]);
    await s.repo.close();
  });
});

describe('a real full disk (tmpfs)', () => {
  it.skipIf(!canMountTmpfs)(
    'ENOSPC on a small tmpfs: a StorageError, earlier checkpoint intact, works again once there is room',
    async () => {
      const fsys = smallFilesystem('1m');
      const dir = path.join(fsys.dir, 'checkpoints');
      const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dir }) });
      try {
        const store: StateStore = await openStore();
        await fill(store, A0, 100, 10);
        const good = await checkpointNow(store, repo);
        const goodState = await rawState(store, A0);
        // ~3 MB of incompressible values: cannot fit in 1 MB.
        const p = store.partition('orders', 0);
        for (let i = 0; i < 3000; i++) p.put(`r${i}`, randomBytes(1000));
        await store.commit([{ ...A0, offset: 20 }]);
        const err = await checkpointNow(store, repo).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StorageError);
        expect(err).toMatchObject({ syscallCode: 'ENOSPC' });
        expect((err as Error).message).toMatch(/disk is full/);
        expect(filesUnder(dir).every((f) => f.startsWith(`${good.id}/`))).toBe(true);
        const target = await openStore();
        await repo.restore(target);
        expect(await rawState(target, A0)).toEqual(goodState);
        fsys.grow('16m');
        const next = await checkpointNow(store, repo);
        expect((await repo.verify(next.id))[0]!.status).toBe('valid');
      } finally {
        await repo.close();
      }
    },
  );
});
