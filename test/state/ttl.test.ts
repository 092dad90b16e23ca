import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tmpDir } from '../helpers/tmp.js';

describe('TTL under a fake clock', () => {
  async function open(clock: ManualClock, extra: { defaultTtlMs?: number; cacheEntries?: number } = {}) {
    return StateStore.open({ path: tmpDir('ttl'), clock, sweepIntervalMs: 0, ...extra });
  }

  it('a per-put TTL expires the entry exactly at its deadline, cached or not', async () => {
    const clock = new ManualClock(1_000);
    const store = await open(clock, { cacheEntries: 1 });
    const p = store.partition('t', 0);
    p.put('short', 'a', { ttlMs: 100 });
    p.put('long', 'b', { ttlMs: 1_000 });
    p.put('forever', 'c');
    await store.commit();
    clock.advance(99);
    expect(p.get('short')).toBe('a');
    clock.advance(1);
    expect(p.get('short')).toBeUndefined();
    expect(p.has('short')).toBe(false);
    expect(p.get('long')).toBe('b');
    expect([...p.keys()]).toEqual(['forever', 'long']);
    clock.advance(10_000);
    expect(p.get('long')).toBeUndefined();
    expect(p.get('forever')).toBe('c');
    expect(p.stats().expirations).toBe(2);
    await store.close();
  });

  it('the store default applies to puts without a TTL; ttlMs: 0 means never', async () => {
    const clock = new ManualClock(0);
    const store = await open(clock, { defaultTtlMs: 50 });
    const p = store.partition('t', 0);
    p.put('default', 1);
    p.put('never', 2, { ttlMs: 0 });
    clock.advance(50);
    expect(p.get('default')).toBeUndefined();
    expect(p.get('never')).toBe(2);
    await store.close();
  });

  it('a read does not extend the life of an entry unless asked to; a write does', async () => {
    const clock = new ManualClock(0);
    const store = await open(clock);
    const p = store.partition('t', 0);
    p.put('plain', 1, { ttlMs: 100 });
    p.put('touched', 1, { ttlMs: 100 });
    p.put('rewritten', 1, { ttlMs: 100 });
    clock.advance(80);
    expect(p.get('plain')).toBe(1);
    expect(p.get('touched', { extendTtl: true })).toBe(1);
    p.update<number>('rewritten', (v) => (v ?? 0) + 1, { ttlMs: 100 });
    clock.advance(30); // t = 110
    expect(p.get('plain')).toBeUndefined();
    expect(p.get('touched')).toBe(1);
    expect(p.get('rewritten')).toBe(2);
    clock.advance(60); // t = 170: touched expired at 180? no: extended at 80 -> 180
    expect(p.get('touched')).toBe(1);
    clock.advance(10);
    expect(p.get('touched')).toBeUndefined();
    await store.close();
  });

  it('expiry survives a reopen, and a lazily expired entry is deleted on disk by the next commit', async () => {
    const clock = new ManualClock(0);
    const dir = tmpDir('ttl');
    let store = await StateStore.open({ path: dir, clock, sweepIntervalMs: 0 });
    store.partition('t', 0).put('k', 'v', { ttlMs: 100 });
    await store.commit();
    await store.close();
    clock.advance(100);
    store = await StateStore.open({ path: dir, clock, sweepIntervalMs: 0 });
    expect(store.stats().partitions[0]!.entries).toBe(1); // still on disk
    expect(store.partition('t', 0).get('k')).toBeUndefined(); // never returned
    await store.commit();
    expect(store.stats().partitions[0]!.entries).toBe(0); // removed by the commit
    await store.close();
  });

  it('the sweep removes expired entries that are never read, across scopes, and they are gone after a commit', async () => {
    const clock = new ManualClock(0);
    const store = await open(clock, { cacheEntries: 10 });
    const p = store.partition('t', 0);
    for (let i = 0; i < 100; i++) p.put(`k${i}`, i, { ttlMs: i < 60 ? 100 : 10_000 });
    p.scope('s').put('x', 1, { ttlMs: 100 });
    await store.commit();
    clock.advance(100);
    expect(await store.sweep()).toBe(61);
    await store.commit();
    expect(p.stats().entries).toBe(40);
    expect(p.count()).toBe(40);
    expect(p.scope('s').count()).toBe(0);
    expect(p.stats().expirations).toBe(61);
    expect(await store.sweep()).toBe(0);
    await store.close();
  });

  it('the periodic sweep runs on its own', async () => {
    const clock = new ManualClock(0);
    const store = await StateStore.open({ path: tmpDir('ttl'), clock, sweepIntervalMs: 10 });
    const p = store.partition('t', 0);
    p.put('k', 1, { ttlMs: 5 });
    await store.commit();
    clock.advance(5);
    await expect.poll(() => store.stats().dirtyEntries, { interval: 10, timeout: 5_000 }).toBe(1);
    await store.commit();
    expect(p.stats().entries).toBe(0);
    await store.close();
  });

  it('reports each expired entry once, with its last value, to onExpired (read, reload and sweep)', async () => {
    const clock = new ManualClock(0);
    const seen: Array<[string, string, unknown, number]> = [];
    const store = await StateStore.open({
      path: tmpDir('ttl'),
      clock,
      sweepIntervalMs: 0,
      cacheEntries: 1,
      onExpired: (e) => seen.push([e.scope, e.key as string, e.value, e.expiresAt]),
    });
    const p = store.partition('t', 0);
    p.scope('sessions').put('cached', { clicks: 3 }, { ttlMs: 10 });
    p.put('on-disk', 'v', { ttlMs: 10 });
    p.put('swept', [1, 2], { ttlMs: 20 });
    p.put('forever', 1);
    await store.commit();
    clock.advance(10);
    expect(p.scope('sessions').get('cached')).toBeUndefined();
    expect(p.get('on-disk')).toBeUndefined();
    expect(p.get('on-disk')).toBeUndefined(); // reported once
    clock.advance(10);
    expect(await store.sweep()).toBe(1);
    expect(seen).toEqual([
      ['sessions', 'cached', { clicks: 3 }, 10],
      ['', 'on-disk', 'v', 10],
      ['', 'swept', [1, 2], 20],
    ]);
    await store.close();
  });
});
