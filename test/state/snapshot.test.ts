import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('store snapshots', () => {
  it('right after a reopen, read every partition (database handles opened before the read transaction)', async () => {
    const dir = path.join(tmpDir('snap'), 'state');
    let store = await StateStore.open({ path: dir });
    for (let p = 0; p < 3; p++) {
      for (let i = 0; i <= p * 10; i++) store.partition('t', p).put(`k${i}`, i);
    }
    await store.commit([0, 1, 2].map((p) => ({ topic: 't', partition: p, offset: p + 1 })));
    await store.close();
    store = await StateStore.open({ path: dir });
    const snap = await store.snapshot(); // before anything else touches a partition
    try {
      expect(snap.partitions().map((tp) => [tp.partition, [...snap.entries(tp)].length, snap.offset(tp)])).toEqual([
        [0, 1, '1'],
        [1, 11, '2'],
        [2, 21, '3'],
      ]);
    } finally {
      snap.release();
      await store.close();
    }
  });

  it('stays at its point in time while commits go on', async () => {
    const store = await StateStore.open({ path: path.join(tmpDir('snap'), 'state') });
    const p = store.partition('t', 0);
    p.put('a', 1);
    await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
    const snap = await store.snapshot();
    p.put('a', 2);
    p.put('b', 2);
    await store.commit([{ topic: 't', partition: 0, offset: 2 }]);
    store.partition('t', 1).put('x', 1); // a partition born after the snapshot
    await store.commit([{ topic: 't', partition: 1, offset: 1 }]);
    expect(snap.offset({ topic: 't', partition: 0 })).toBe('1');
    expect([...snap.entries({ topic: 't', partition: 0 })]).toHaveLength(1);
    expect(snap.partitions()).toEqual([{ topic: 't', partition: 0 }]);
    snap.release();
    await store.close();
  });

  it.each(['lmdb', 'memory'] as const)(
    'transientEntries gives the same records as entries, each value valid while it is current (%s)',
    async (backend) => {
      const store = await StateStore.open(
        backend === 'lmdb' ? { path: path.join(tmpDir('snap'), 'state') } : { backend: 'memory' },
      );
      const p = store.partition('t', 0);
      for (let i = 0; i < 300; i++) p.put(`k${String(i).padStart(3, '0')}`, { i, pad: 'x'.repeat(i * 7) }); // up to ~2 KB
      await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
      const snap = await store.snapshot();
      const tp = { topic: 't', partition: 0 };
      const copied = [...snap.entries(tp)].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);
      const viewed: string[] = [];
      for (const e of snap.transientEntries(tp))
        viewed.push(`${e.key.toString('hex')}=${Buffer.from(e.value).toString('hex')}`);
      expect(viewed).toEqual(copied);
      expect(viewed).toHaveLength(300);
      snap.release();
      await store.close();
    },
  );
});
