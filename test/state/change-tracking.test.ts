import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import type { PartitionChanges } from '../../src/state/change-tracker.js';
import { ScopeCodec } from '../../src/state/key-codec.js';
import { tmpDir } from '../helpers/tmp.js';

const tp = { topic: 't', partition: 0 };
const codec = new ScopeCodec('');
const enc = (k: string): string => codec.encode(k).toString('latin1');

function keysOf(c: PartitionChanges): string[] | 'full' {
  return c.keys === 'full' ? 'full' : [...c.keys].sort();
}

describe('change tracking for incremental checkpoints', () => {
  for (const backend of ['lmdb', 'memory'] as const) {
    const open = (extra: Record<string, unknown> = {}, path = tmpDir('track')) =>
      StateStore.open({
        ...(backend === 'lmdb' ? { path } : { backend: 'memory' as const }),
        sweepIntervalMs: 0,
        ...extra,
      });

    it(`${backend}: a partition is full until a checkpoint is written, then the keys each commit changed`, async () => {
      const store = await open();
      const p = store.partition('t', 0);
      for (let i = 0; i < 100; i++) p.put(`k${i}`, i);
      await store.commit([{ ...tp, offset: '100' }]);
      const first = await store.checkpointSnapshot();
      expect(first.cut.changes(tp)).toEqual({ since: undefined, keys: 'full' });
      // Changed between the snapshot and the end of the write: relative to the new checkpoint.
      p.put('k1', 'x');
      await store.commit();
      first.cut.written('A', [tp]);
      first.snapshot.release();
      p.delete('k2');
      p.put('new', 1);
      await store.commit();
      const second = await store.checkpointSnapshot();
      const c = second.cut.changes(tp);
      expect(c.since).toBe('A');
      expect(keysOf(c)).toEqual([enc('k1'), enc('k2'), enc('new')].sort());
      // The snapshot reads each changed key's value as of the cut.
      expect(second.snapshot.get(tp, codec.encode('k2'))).toBeUndefined();
      expect(second.snapshot.get(tp, codec.encode('k1'))).toBeInstanceOf(Buffer);
      second.cut.written('B', [tp]);
      second.snapshot.release();
      const third = await store.checkpointSnapshot();
      expect(third.cut.changes(tp)).toEqual({ since: 'B', keys: new Set() });
      third.cut.abandoned();
      third.snapshot.release();
      await store.close();
    });

    it(`${backend}: an abandoned checkpoint's changes count again; one left out of a checkpoint keeps its base`, async () => {
      const store = await open();
      const p = store.partition('t', 0);
      const q = store.partition('t', 1);
      for (let i = 0; i < 50; i++) {
        p.put(`k${i}`, i);
        q.put(`k${i}`, i);
      }
      await store.commit();
      const a = await store.checkpointSnapshot();
      a.cut.written('A', [tp, { topic: 't', partition: 1 }]);
      a.snapshot.release();
      p.put('k1', 'one');
      q.put('k1', 'one');
      await store.commit();
      const b = await store.checkpointSnapshot();
      p.put('k3', 'three');
      await store.commit();
      b.cut.abandoned();
      b.snapshot.release();
      const c = await store.checkpointSnapshot();
      expect(keysOf(c.cut.changes(tp))).toEqual([enc('k1'), enc('k3')].sort());
      expect(c.cut.changes(tp).since).toBe('A');
      c.cut.written('C', [tp]); // partition 1 left out
      c.snapshot.release();
      const d = await store.checkpointSnapshot();
      expect(d.cut.changes(tp)).toEqual({ since: 'C', keys: new Set() });
      expect(d.cut.changes({ topic: 't', partition: 1 })).toEqual({ since: 'A', keys: new Set([enc('k1')]) });
      expect(() => d.cut.abandoned()).not.toThrow();
      expect(() => d.cut.abandoned()).toThrow(/already settled/);
      d.snapshot.release();
      await store.close();
    });

    it(`${backend}: TTL expiries are tracked as changed keys`, async () => {
      const clock = new ManualClock(1_000);
      const store = await open({ clock });
      const p = store.partition('t', 0);
      for (let i = 0; i < 20; i++) p.put(`k${i}`, i, { ttlMs: i < 2 ? 10 : 0 });
      await store.commit();
      const a = await store.checkpointSnapshot();
      a.cut.written('A', [tp]);
      a.snapshot.release();
      clock.advance(10);
      expect(await store.sweep()).toBe(2);
      await store.commit();
      const b = await store.checkpointSnapshot();
      expect(keysOf(b.cut.changes(tp))).toEqual([enc('k0'), enc('k1')].sort());
      expect(b.snapshot.get(tp, codec.encode('k0'))).toBeUndefined();
      b.cut.abandoned();
      b.snapshot.release();
      await store.close();
    });

    it(`${backend}: beyond the tracked share of a partition, or after a restore, the next checkpoint is full`, async () => {
      const store = await open({ trackChangesShare: 0.1 });
      const p = store.partition('t', 0);
      for (let i = 0; i < 100; i++) p.put(`k${i}`, i);
      await store.commit();
      const a = await store.checkpointSnapshot();
      a.cut.written('A', [tp]);
      a.snapshot.release();
      for (let i = 0; i < 10; i++) p.put(`k${i}`, -i);
      await store.commit();
      const b = await store.checkpointSnapshot();
      expect(keysOf(b.cut.changes(tp))).toHaveLength(10);
      b.cut.written('B', [tp]);
      b.snapshot.release();
      for (let i = 0; i < 11; i++) p.put(`k${i}`, i);
      await store.commit();
      const c = await store.checkpointSnapshot();
      expect(c.cut.changes(tp)).toEqual({ since: undefined, keys: 'full' });
      c.cut.written('C', [tp]);
      c.snapshot.release();
      p.put('k0', 'again');
      await store.commit();
      await store.replacePartition(tp, [], '5');
      const d = await store.checkpointSnapshot();
      expect(d.cut.changes(tp)).toEqual({ since: undefined, keys: 'full' });
      d.cut.abandoned();
      d.snapshot.release();
      await store.close();
    });
  }

  it('after a restart every partition is full (tracking is in memory)', async () => {
    const dir = tmpDir('track-restart');
    let store = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
    store.partition('t', 0).put('a', 1);
    await store.commit();
    const a = await store.checkpointSnapshot();
    a.cut.written('A', [tp]);
    a.snapshot.release();
    store.partition('t', 0).put('b', 1);
    await store.commit();
    await store.close();
    store = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
    const b = await store.checkpointSnapshot();
    expect(b.cut.changes(tp)).toEqual({ since: undefined, keys: 'full' });
    b.cut.abandoned();
    b.snapshot.release();
    await store.close();
  });

  it('refuses a bad trackChangesShare', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '0.2']) {
      await expect(StateStore.open({ backend: 'memory', trackChangesShare: bad as never })).rejects.toThrow(
        /"trackChangesShare" must be a number in \(0, 1\]/,
      );
    }
  });
});
