import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tmpDir } from '../helpers/tmp.js';

// The cache's own structures, read through their private names: what must
// stay bounded is the real memory, not a counter beside it.
function held(store: StateStore): { order: number; indexed: number } {
  // biome-ignore lint/complexity/useLiteralKeys: reads a private field on purpose
  const ctx = store['ctx'];
  const order = (ctx.cache as unknown as { order: Set<unknown> }).order.size;
  let indexed = 0;
  // biome-ignore lint/complexity/useLiteralKeys: reads a private field on purpose
  for (const state of store['owned'].values()) {
    for (const view of state.views.values()) {
      const v = view as unknown as { strings: Map<string, unknown>; binaries: Map<string, unknown> };
      indexed += v.strings.size + v.binaries.size;
    }
  }
  return { order, indexed };
}

describe('hot cache memory bound', () => {
  it('holds at most cacheEntries entries in its order and index over 20,000 distinct keys read and written', async () => {
    const store = await StateStore.open({ path: tmpDir('cachebound'), cacheEntries: 100 });
    const p = store.partition('t', 0);
    const s = p.scope('other');
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) p.put(`k${round}-${i}`, { round, i, pad: 'x'.repeat(50) });
      for (let i = 0; i < 500; i++) s.put(Buffer.from(`b${round}-${i}`), i);
      await store.commit([{ topic: 't', partition: 0, offset: round + 1 }]);
      expect(held(store)).toEqual({ order: 100, indexed: 100 });
    }
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) expect(p.get<{ i: number }>(`k${round}-${i}`)!.i).toBe(i);
    }
    expect(held(store)).toEqual({ order: 100, indexed: 100 });
    expect(store.stats().cachedEntries).toBe(100);
    await store.close();
  });

  it('forgets deleted keys once their delete lands, and every entry of a released or rolled-back partition', async () => {
    const store = await StateStore.open({ path: tmpDir('cachebound'), cacheEntries: 1000 });
    let p = store.partition('t', 0);
    for (let i = 0; i < 500; i++) p.put(`k${i}`, i);
    await store.commit();
    for (let i = 0; i < 500; i++) p.delete(`k${i}`);
    for (let i = 0; i < 300; i++) p.delete(`never${i}`); // no stored value: nothing cached
    expect(held(store).order).toBe(500);
    await store.commit();
    expect(held(store)).toEqual({ order: 0, indexed: 0 });

    for (let i = 0; i < 400; i++) p.scope('a').put(`k${i}`, i);
    store.release('t', 0, { discard: true }); // rollback
    expect(held(store)).toEqual({ order: 0, indexed: 0 });
    p = store.partition('t', 0);
    for (let i = 0; i < 400; i++) p.put(`k${i}`, i);
    await store.commit();
    store.release('t', 0);
    expect(held(store)).toEqual({ order: 0, indexed: 0 });
    expect(store.stats().cachedEntries).toBe(0);
    await store.close();
  });

  it('forgets expired entries once their deletes land, whether the sweep or a read found them', async () => {
    const clock = new ManualClock(0);
    const store = await StateStore.open({ path: tmpDir('cachebound'), cacheEntries: 50, clock, sweepIntervalMs: 0 });
    const p = store.partition('t', 0);
    for (let i = 0; i < 5000; i++) p.put(`k${i}`, i, { ttlMs: 10 });
    await store.commit();
    expect(held(store)).toEqual({ order: 50, indexed: 50 });
    clock.advance(10);
    for (let i = 0; i < 100; i++) expect(p.get(`k${i}`)).toBeUndefined();
    expect(await store.sweep()).toBe(4900);
    await store.commit();
    expect(held(store)).toEqual({ order: 0, indexed: 0 });
    await store.close();
  });
});
