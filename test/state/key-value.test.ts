import { describe, expect, it } from 'vitest';
import { StateStore, type StateStoreOptions } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

// The same contract holds for both backends.
describe.each(['lmdb', 'memory'] as const)('key-value state (%s backend)', (backend) => {
  async function open(extra: Partial<StateStoreOptions> = {}): Promise<StateStore> {
    const opts: StateStoreOptions =
      backend === 'lmdb' ? { path: tmpDir('kv'), ...extra } : { backend: 'memory', ...extra };
    const store = await StateStore.open(opts);
    return store;
  }

  it('gets, puts, has, deletes and updates before and after a commit', async () => {
    const store = await open();
    const p = store.partition('orders', 0);
    expect(p.get('a')).toBeUndefined();
    expect(p.has('a')).toBe(false);
    p.put('a', { n: 1 });
    expect(p.get('a')).toEqual({ n: 1 });
    expect(p.has('a')).toBe(true);
    expect(p.update<number>('counter', (c) => (c ?? 0) + 1)).toBe(1);
    expect(p.update<number>('counter', (c) => (c ?? 0) + 1)).toBe(2);
    await store.commit();
    expect(p.get('counter')).toBe(2);
    expect(p.delete('a')).toBe(true);
    expect(p.delete('a')).toBe(false);
    expect(p.delete('never')).toBe(false);
    expect(p.get('a')).toBeUndefined();
    await store.commit();
    expect(p.get('a')).toBeUndefined();
    expect(p.has('a')).toBe(false);
    expect(p.count()).toBe(1);
    await store.close();
  });

  it('an update whose function throws changes nothing', async () => {
    const store = await open();
    const p = store.partition('orders', 0);
    p.put('a', 1);
    expect(() =>
      p.update('a', () => {
        throw new Error('nope');
      }),
    ).toThrow('nope');
    expect(p.get('a')).toBe(1);
    await store.close();
  });

  it('round-trips every supported value type through a commit', async () => {
    const store = await open({ cacheEntries: 1 });
    const p = store.partition('t', 1);
    const values: Record<string, unknown> = {
      str: 'héllo ✓',
      num: 3.25,
      neg: -7,
      big: 2n ** 62n,
      bool: false,
      nil: null,
      date: new Date('2026-01-02T03:04:05.678Z'),
      buf: Buffer.from([0, 1, 255]),
      arr: [1, 'two', { three: 3 }],
      set: new Set([1, 2]),
      obj: { nested: { deep: [true, null] }, missing: undefined },
      nan: Number.NaN,
    };
    for (const [k, v] of Object.entries(values)) p.put(k, v);
    await store.commit();
    // cacheEntries: 1 forces reads to go to the backend and decode.
    for (const [k, v] of Object.entries(values)) expect(p.get(k), k).toEqual(v);
    await store.close();
  });

  it('binary keys are distinct from string keys with the same bytes', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    p.put('ab', 'string');
    p.put(Buffer.from('ab'), 'binary');
    await store.commit();
    expect(p.get('ab')).toBe('string');
    expect(p.get(Buffer.from('ab'))).toBe('binary');
    expect(p.get(new Uint8Array([0x61, 0x62]))).toBe('binary');
    const keys = [...p.keys()];
    expect(keys[0]).toBe('ab');
    expect(Buffer.isBuffer(keys[1])).toBe(true);
    await store.close();
  });

  it('iterates by prefix, by range, in reverse and with a limit, overlaying uncommitted changes', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    for (const k of ['user:1', 'user:2', 'user:3', 'useless', 'zebra', 'apple']) p.put(k, k.toUpperCase());
    await store.commit();
    p.put('user:25', 'new');
    p.delete('user:2');
    p.put('user:3', 'changed');
    expect([...p.keys({ prefix: 'user:' })]).toEqual(['user:1', 'user:25', 'user:3']);
    expect([...p.entries({ prefix: 'user:' })].map((e) => e.value)).toEqual(['USER:1', 'new', 'changed']);
    expect([...p.keys({ start: 'user:2', end: 'zebra' })]).toEqual(['user:25', 'user:3']);
    expect([...p.keys({ reverse: true })]).toEqual(['zebra', 'user:3', 'user:25', 'user:1', 'useless', 'apple']);
    expect([...p.keys({ prefix: 'user:', reverse: true, limit: 2 })]).toEqual(['user:3', 'user:25']);
    expect([...p.keys({ limit: 0 })]).toEqual([]);
    expect(p.count()).toBe(6);
    await store.commit();
    expect([...p.keys({ prefix: 'user:' })]).toEqual(['user:1', 'user:25', 'user:3']);
    await store.close();
  });

  it('keeps scopes isolated: same key, separate values, listing returns only the scope', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    const tenantA = p.scope('tenant-a');
    const tenantB = p.scope('tenant-b');
    const tenantAB = p.scope('tenant-ab'); // a scope name that extends another's
    p.put('k', 'default');
    tenantA.put('k', 'a');
    tenantB.put('k', 'b');
    tenantAB.put('k', 'ab');
    tenantA.put('only-a', 1);
    await store.commit();
    expect(p.get('k')).toBe('default');
    expect(tenantA.get('k')).toBe('a');
    expect(tenantB.get('k')).toBe('b');
    expect(tenantAB.get('k')).toBe('ab');
    expect([...tenantA.keys()]).toEqual(['k', 'only-a']);
    expect([...tenantB.keys()]).toEqual(['k']);
    expect([...p.keys()]).toEqual(['k']);
    expect(tenantB.has('only-a')).toBe(false);
    tenantA.delete('k');
    await store.commit();
    expect(tenantB.get('k')).toBe('b');
    expect(p.get('k')).toBe('default');
    expect(p.scope('tenant-a')).toBe(tenantA);
    await store.close();
  });

  it('keeps partitions isolated', async () => {
    const store = await open();
    store.partition('t', 0).put('k', 0);
    store.partition('t', 1).put('k', 1);
    store.partition('u', 0).put('k', 2);
    await store.commit([{ topic: 't', partition: 1, offset: 9 }]);
    expect(store.partition('t', 0).get('k')).toBe(0);
    expect(store.partition('t', 1).get('k')).toBe(1);
    expect(store.partition('u', 0).get('k')).toBe(2);
    expect(store.partitions()).toEqual([
      { topic: 't', partition: 0 },
      { topic: 't', partition: 1 },
      { topic: 'u', partition: 0 },
    ]);
    expect(store.offsets()).toEqual([{ topic: 't', partition: 1, offset: '9' }]);
    await store.close();
  });

  it('records offsets with the commit and reports them per partition', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    p.put('k', 1);
    const r = await store.commit([{ topic: 't', partition: 0, offset: '100' }]);
    expect(r).toMatchObject({ partitions: 1, entries: 1, offsets: [{ topic: 't', partition: 0, offset: '100' }] });
    expect(store.offset('t', 0)).toBe('100');
    expect(p.committedOffset).toBe('100');
    // an offset-only commit
    await store.commit([{ topic: 't', partition: 0, offset: 9007199254740993n }]);
    expect(store.offset('t', 0)).toBe('9007199254740993');
    await store.close();
  });

  it('release() refuses with uncommitted changes, then forgets the cache after a commit', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    p.put('k', 1);
    expect(() => store.release('t', 0)).toThrow(/uncommitted/);
    await store.commit();
    store.release('t', 0);
    expect(() => p.get('k')).toThrow(/released/);
    expect(store.partition('t', 0).get('k')).toBe(1);
    await store.close();
  });

  it('counts gets, puts, deletes, hits and misses per partition', async () => {
    const store = await open({ cacheEntries: 2 });
    const p = store.partition('t', 0);
    p.put('a', 1);
    p.put('b', 2);
    p.put('c', 3);
    await store.commit();
    p.get('a');
    p.get('b');
    p.get('c');
    p.get('zzz');
    p.delete('a');
    const s = p.stats();
    expect(s.puts).toBe(3);
    expect(s.gets).toBe(4);
    expect(s.deletes).toBe(1);
    expect(s.cacheHits + s.cacheMisses).toBe(4);
    expect(s.cacheMisses).toBeGreaterThanOrEqual(2); // only 2 of 3 stay cached, 'zzz' is a miss
    expect(s.evictions).toBeGreaterThanOrEqual(1);
    expect(s.entries).toBe(3);
    expect(store.stats().partitions).toHaveLength(1);
    await store.close();
  });

  it('10 concurrent async writers on different keys of one partition all land', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        p.update<number[]>(`writer-${w}`, (xs) => [...(xs ?? []), i]);
        if (i % 7 === 0) await store.commit();
        else await Promise.resolve();
      }
      await store.commit();
    };
    await Promise.all(Array.from({ length: 10 }, (_, w) => writer(w)));
    store.release('t', 0);
    const fresh = store.partition('t', 0);
    for (let w = 0; w < 10; w++) expect(fresh.get(`writer-${w}`)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await store.close();
  });

  it('refuses use after close', async () => {
    const store = await open();
    const p = store.partition('t', 0);
    await store.close();
    expect(() => p.get('k')).toThrow(/closed/);
    expect(() => store.partition('t', 0)).toThrow(/closed/);
    await expect(store.commit()).rejects.toThrow(/closed/);
  });
});
