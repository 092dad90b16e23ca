import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StateStore, type ExpiredEntry } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tmpDir } from '../helpers/tmp.js';

describe('TTL sweep: owned partitions only, each expiry reported once', () => {
  it('never touches a partition this store does not own: no onExpired for it, no change that could refuse its restore', async () => {
    const clock = new ManualClock(0);
    const seen: ExpiredEntry[] = [];
    const store = await StateStore.open({
      path: tmpDir('sweep'),
      clock,
      sweepIntervalMs: 0,
      onExpired: (e) => seen.push(e),
    });
    for (const n of [0, 1, 2]) {
      const p = store.partition('t', n);
      for (let i = 0; i < 10; i++) p.put(`k${i}`, i, { ttlMs: 100 });
    }
    await store.commit([0, 1, 2].map((n) => ({ topic: 't', partition: n, offset: 10 })));
    store.release('t', 1); // revoked: another member owns it now
    store.release('t', 2);
    store.partition('t', 2); // assigned back: owned again
    clock.advance(100);

    expect(await store.sweep()).toBe(20);
    expect(new Set(seen.map((e) => `${e.topic}:${e.partition}`))).toEqual(new Set(['t:0', 't:2']));
    expect(store.stats().dirtyEntries).toBe(20);
    // t:1 is assigned back with a newer checkpoint: the restore must go through.
    await store.replacePartition({ topic: 't', partition: 1 }, [], '20');
    await store.commit();
    expect(store.offset('t', 1)).toBe('20');
    expect(store.partition('t', 0).count()).toBe(0);
    expect(store.partition('t', 1).count()).toBe(0);
    await store.close();
  });

  it('stops at a partition released and opened again while it sweeps, leaving the new owner untouched', async () => {
    const clock = new ManualClock(0);
    const seen: ExpiredEntry[] = [];
    const store = await StateStore.open({
      path: tmpDir('sweep'),
      clock,
      sweepIntervalMs: 0,
      cacheEntries: 10,
      onExpired: (e) => seen.push(e),
    });
    const p = store.partition('t', 0);
    for (let i = 0; i < 20_000; i++) p.put(`k${String(i).padStart(5, '0')}`, i, { ttlMs: 100 });
    await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
    clock.advance(100);
    const sweeping = store.sweep();
    await nextTurn(); // the sweep has done its first chunk
    await store.commit([{ topic: 't', partition: 0, offset: 2 }]);
    store.release('t', 0);
    const again = store.partition('t', 0);
    const reported = seen.length;
    expect(reported).toBeLessThan(20_000);
    await expect(sweeping).resolves.toBeGreaterThan(0);
    expect(seen.length).toBe(reported);
    expect(store.stats().dirtyEntries).toBe(0);
    expect(again.get('k19000')).toBeUndefined(); // expired, found on read: reported now
    expect(seen.length).toBe(reported + 1);
    await store.close();
  });

  it('reports each of 15,000 expired entries exactly once when commits land during the sweep', async () => {
    const clock = new ManualClock(0);
    const counts = new Map<string, number>();
    const store = await StateStore.open({
      path: tmpDir('sweep'),
      clock,
      sweepIntervalMs: 0,
      cacheEntries: 1000,
      onExpired: (e) => counts.set(e.key as string, (counts.get(e.key as string) ?? 0) + 1),
    });
    const p = store.partition('t', 0);
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    for (let i = 0; i < 15_000; i++) p.put(key(i), { i }, { ttlMs: 100 });
    await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
    for (let i = 14_500; i < 15_000; i++) p.get(key(i)); // the last 500 in key order are cached
    clock.advance(100);
    const sweeping = store.sweep();
    let commits = 0;
    let done = false;
    void sweeping.finally(() => (done = true));
    while (!done) {
      await nextTurn();
      await store.commit([{ topic: 't', partition: 0, offset: 2 + commits++ }]);
    }
    expect(await sweeping).toBe(15_000);
    await store.commit();
    expect(commits).toBeGreaterThan(1);
    expect(counts.size).toBe(15_000);
    expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
    expect(p.count()).toBe(0);
    await store.close();
  });
});
