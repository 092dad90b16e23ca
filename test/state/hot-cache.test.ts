import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('hot cache', () => {
  it('stays within its entry bound once changes are committed', async () => {
    const store = await StateStore.open({ path: tmpDir('cache'), cacheEntries: 100 });
    const p = store.partition('t', 0);
    for (let i = 0; i < 1000; i++) p.put(`k${i}`, i);
    // dirty entries are never evicted: all 1000 are held until the commit
    expect(store.stats().cachedEntries).toBe(1000);
    await store.commit();
    expect(store.stats().cachedEntries).toBe(100);
    for (let i = 0; i < 1000; i++) expect(p.get(`k${i}`)).toBe(i);
    expect(store.stats().cachedEntries).toBeLessThanOrEqual(100);
    expect(p.stats().evictions).toBeGreaterThanOrEqual(900);
    await store.close();
  });

  it('never evicts a changed entry before its commit is durable', async () => {
    const store = await StateStore.open({ path: tmpDir('cache'), cacheEntries: 2 });
    const p = store.partition('t', 0);
    p.put('dirty', 'v1');
    await store.commit();
    p.put('dirty', 'v2'); // changed, not committed
    for (let i = 0; i < 50; i++) p.get(`miss${i}`);
    for (let i = 0; i < 50; i++) p.put(`other${i}`, i);
    await store.commit();
    for (let i = 0; i < 50; i++) p.get(`other${i}`);
    store.release('t', 0);
    expect(store.partition('t', 0).get('dirty')).toBe('v2');
    await store.close();
  });

  it('gives an entry read since the last eviction pass a second chance over one that was not', async () => {
    const store = await StateStore.open({ path: tmpDir('cache'), cacheEntries: 3 });
    const p = store.partition('t', 0);
    p.put('a', 1);
    p.put('b', 2);
    p.put('c', 3);
    await store.commit();
    p.put('d', 4);
    await store.commit(); // over the bound: one pass clears every use bit and drops the oldest, a
    const misses = () => p.stats().cacheMisses;
    expect(p.get('c')).toBe(3); // c is used again
    expect(misses()).toBe(0);
    p.put('e', 5); // needs room: b (not used since the pass) goes, c stays
    expect(p.get('c')).toBe(3);
    expect(misses()).toBe(0);
    expect(p.get('b')).toBe(2);
    expect(misses()).toBe(1);
    expect(p.stats().evictions).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it('get and put on cached keys never touch the backend', async () => {
    const store = await StateStore.open({ path: tmpDir('cache') });
    const p = store.partition('t', 0);
    for (let i = 0; i < 100; i++) p.put(`k${i}`, i);
    await store.commit();
    const before = p.stats();
    for (let round = 0; round < 10; round++)
      for (let i = 0; i < 100; i++) p.put(`k${i}`, (p.get<number>(`k${i}`) ?? 0) + 1);
    const after = p.stats();
    expect(after.cacheMisses).toBe(before.cacheMisses);
    expect(after.cacheHits - before.cacheHits).toBe(1000);
    await store.close();
  });
});
