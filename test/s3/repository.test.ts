// The checkpoint repository on S3 (a real server): write, verify, restore,
// fallback past a corrupt checkpoint with quarantine, retention and debris.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CheckpointRepository, type S3CheckpointStorage } from '../../src/index.js';
import { MIN_PART_BYTES } from '../../src/checkpoint/s3-storage.js';
import { QUARANTINE_PREFIX } from '../../src/checkpoint/repository.js';
import { checkpointNow, fill, flipBit, openStore, rawState } from '../checkpoint/support.js';
import { s3Storage } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };

async function s3Repo(
  partBytes = MIN_PART_BYTES,
): Promise<{ repo: CheckpointRepository; storage: S3CheckpointStorage; dir: string }> {
  const { storage, dir } = await s3Storage({ prefix: 'prod/orders', partBytes });
  const repo = new CheckpointRepository({ storage });
  return { repo, storage, dir: path.join(dir, 'prod', 'orders') };
}

describe('checkpoint repository on S3', () => {
  it('writes a checkpoint (a segment past one part goes multipart), verifies it and restores it byte for byte', async () => {
    const store = await openStore();
    // Incompressible values: segment A0 is ~6 MiB stored, more than one 5 MiB part.
    const p = store.partition(A0.topic, A0.partition);
    for (let i = 0; i < 3000; i++) p.put(`k${i}`, randomBytes(2048).toString('base64'));
    await store.commit([{ ...A0, offset: 3000 }]);
    await fill(store, A1, 100, 42);
    const { repo, storage, dir } = await s3Repo();
    try {
      const info = await checkpointNow(store, repo);
      expect(info.status).toBe('valid');
      const seg = info.partitions.find((x) => x.partition === 0)!;
      expect(seg.storedBytes).toBeGreaterThan(MIN_PART_BYTES);
      expect(fs.statSync(path.join(dir, info.id, seg.file)).size).toBe(seg.storedBytes);
      expect((await repo.list()).map((c) => [c.id, c.status])).toEqual([[info.id, 'valid']]);
      const [v] = await repo.verify(info.id);
      expect(v).toMatchObject({ status: 'valid' });
      expect(v!.partitions.every((x) => x.ok)).toBe(true);
      const target = await openStore();
      const r = await repo.restore(target);
      expect(r.restored.map((x) => [x.partition, x.offset, x.entries])).toEqual([
        [0, '3000', 3000],
        [1, '42', 100],
      ]);
      for (const tp of [A0, A1]) expect(await rawState(target, tp)).toEqual(await rawState(store, tp));
      // Reading left no reader marker behind.
      expect(await storage.list('readers/')).toEqual([]);
    } finally {
      await repo.close();
    }
  });

  it('falls back past a corrupt checkpoint, quarantining it (copy then delete) with a note', async () => {
    const store = await openStore();
    await fill(store, A0, 200, 100);
    const { repo, storage, dir } = await s3Repo();
    try {
      const good = await checkpointNow(store, repo);
      const goodState = await rawState(store, A0);
      await fill(store, A0, 300, 200, 'v2');
      const bad = await checkpointNow(store, repo);
      // Damage the newest one on the server's disk.
      flipBit(path.join(dir, bad.id, bad.partitions[0]!.file), 40);
      const target = await openStore();
      const r = await repo.restore(target);
      expect(r.restored.map((x) => [x.checkpointId, x.offset])).toEqual([[good.id, '100']]);
      expect(r.skipped.map((s) => s.id)).toEqual([bad.id]);
      expect(await rawState(target, A0)).toEqual(goodState);
      expect((await repo.list()).map((c) => c.id)).toEqual([good.id]);
      expect((await repo.listQuarantined()).map((c) => c.id)).toEqual([bad.id]);
      const keys = (await storage.list('')).map((o) => o.key).sort();
      expect(keys.filter((k) => k.startsWith(`${bad.id}/`))).toEqual([]);
      expect(keys.filter((k) => k.startsWith(`${QUARANTINE_PREFIX}${bad.id}/`)).sort()).toEqual(
        [
          `${QUARANTINE_PREFIX}${bad.id}/${bad.partitions[0]!.file}`,
          `${QUARANTINE_PREFIX}${bad.id}/manifest`,
          `${QUARANTINE_PREFIX}${bad.id}/quarantine-note`,
        ].sort(),
      );
      expect(
        JSON.parse((await storage.read(`${QUARANTINE_PREFIX}${bad.id}/quarantine-note`)).toString()).reason,
      ).toMatch(/sha-?256|checksum|corrupt|size|decompress|tag/i);
    } finally {
      await repo.close();
    }
  });

  it('retention keeps the newest, deletes older and incomplete ones, and aborts abandoned uploads', async () => {
    const store = await openStore();
    const { repo, storage } = await s3Repo();
    try {
      const ids: string[] = [];
      for (let i = 1; i <= 4; i++) {
        await fill(store, A0, 10 * i, i);
        ids.push((await checkpointNow(store, repo)).id);
      }
      // An incomplete checkpoint (a writer that died before its manifest) and an abandoned multipart upload.
      const w = await storage.create('20200101T000000000Z-00000000000000aa/orders.0.seg');
      await w.write(Buffer.from('x'));
      await w.commit();
      const dead = await storage.create('20200101T000000000Z-00000000000000bb/orders.0.seg');
      await dead.write(randomBytes(MIN_PART_BYTES + 1));
      const r = await repo.prune({ keepLast: 2, incompleteAfterMs: 0 });
      expect(r.deleted.sort()).toEqual(ids.slice(0, 2).sort());
      expect(r.deletedIncomplete).toEqual(['20200101T000000000Z-00000000000000aa']);
      expect(r.cleaned).toEqual(['20200101T000000000Z-00000000000000bb/orders.0.seg']);
      expect((await repo.list()).map((c) => c.id)).toEqual([ids[3], ids[2]]);
      const left = new Set((await storage.list('')).map((o) => o.key.split('/')[0]));
      expect([...left].sort()).toEqual([ids[2], ids[3]].sort());
      const target = await openStore();
      expect((await repo.restore(target)).restored[0]).toMatchObject({
        checkpointId: ids[3],
        offset: '4',
        entries: 40,
      });
    } finally {
      await repo.close();
    }
  });
});
