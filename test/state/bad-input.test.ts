import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  InvalidArgumentError,
  InvalidKeyError,
  InvalidValueError,
  StateStore,
  TidemarkError,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe('bad input is rejected at the call, with a clear error, storing nothing', () => {
  async function withStore(fn: (store: StateStore) => Promise<void>): Promise<void> {
    const store = await StateStore.open({ path: tmpDir('bad') });
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  }

  it.each([
    ['an empty string key', '', /must not be empty/],
    ['an empty Buffer key', Buffer.alloc(0), /must not be empty/],
    ['a number key', 42, /string or a Buffer, got number/],
    ['a null key', null, /string or a Buffer, got null/],
    ["a key over LMDB's limit", 'k'.repeat(1977), /too long.*1978/],
    ['a multi-byte key over the limit', '€'.repeat(700), /too long/],
    ['a Buffer key over the limit', Buffer.alloc(2000, 1), /too long/],
  ])('%s', async (_label, key, message) => {
    await withStore(async (store) => {
      const p = store.partition('t', 0);
      const err = captureError(() => p.put(key as string, 1));
      expect(err).toBeInstanceOf(InvalidKeyError);
      expect(err).toBeInstanceOf(TidemarkError);
      expect((err as TidemarkError).code).toBe('ERR_TIDEMARK_INVALID_KEY');
      expect((err as Error).message).toMatch(message);
      expect(() => p.get(key as string)).toThrow(InvalidKeyError);
      await store.commit();
      expect(p.count()).toBe(0);
      expect(store.stats().dirtyEntries).toBe(0);
    });
  });

  it('accepts a key exactly at the limit', async () => {
    await withStore(async (store) => {
      const p = store.partition('t', 0);
      const key = 'k'.repeat(1978 - 2); // + 1 byte scope length + 1 byte type tag
      p.put(key, 1);
      await store.commit();
      store.release('t', 0);
      expect(store.partition('t', 0).get(key)).toBe(1);
    });
  });

  it('counts a scope name against the key limit', async () => {
    await withStore(async (store) => {
      const s = store.partition('t', 0).scope('s'.repeat(100));
      expect(() => s.put('k'.repeat(1900), 1)).toThrow(/too long/);
      expect(() => store.partition('t', 0).scope('x'.repeat(256))).toThrow(/255/);
    });
  });

  it.each([
    ['undefined', undefined, /undefined; use delete/],
    ['a function', () => 1, /function cannot be serialized/],
    ['a nested function', { a: { f: () => 1 } }, /function cannot be serialized/],
    ['a symbol', Symbol('s'), /symbol cannot be serialized/],
    ['a Map', new Map([['a', 1]]), /Map would come back as a plain object/],
    ['a class instance', new Point(1, 2), /Point instance would lose its class/],
    ['a Promise', Promise.resolve(1), /Promise instance/],
    ['an invalid Date', new Date(Number.NaN), /invalid Date/],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
      /cycle/,
    ],
    [
      'a cycle through an array',
      (() => {
        const a: unknown[] = [];
        a.push({ a });
        return a;
      })(),
      /cycle/,
    ],
  ])('%s as a value', async (_label, value, message) => {
    await withStore(async (store) => {
      const p = store.partition('t', 0);
      p.put('k', 'before');
      await store.commit();
      const err = captureError(() => p.put('k', value));
      expect(err).toBeInstanceOf(InvalidValueError);
      expect((err as TidemarkError).code).toBe('ERR_TIDEMARK_INVALID_VALUE');
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toContain('"k"');
      expect(p.get('k')).toBe('before');
      expect(() => p.update('k', () => value)).toThrow(InvalidValueError);
      expect(p.get('k')).toBe('before');
      expect(store.stats().dirtyEntries).toBe(0);
    });
  });

  it('a value changed after put() into something unstorable fails the commit, writing nothing and losing nothing', async () => {
    await withStore(async (store) => {
      const p = store.partition('t', 0);
      const v: Record<string, unknown> = { ok: 1 };
      p.put('good', 1);
      p.put('bad', v);
      v.fn = () => 1; // mutated behind the store's back
      const err = await store.commit([{ topic: 't', partition: 0, offset: 5 }]).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/changed after put\(\)/);
      // The same kind as a refused put(): callers catch one class for both.
      expect(err).toBeInstanceOf(InvalidValueError);
      expect((err as TidemarkError).code).toBe('ERR_TIDEMARK_INVALID_VALUE');
      expect(store.offset('t', 0)).toBeUndefined();
      delete v.fn;
      await store.commit([{ topic: 't', partition: 0, offset: 5 }]);
      store.release('t', 0);
      expect(store.partition('t', 0).get('good')).toBe(1);
      expect(store.partition('t', 0).get('bad')).toEqual({ ok: 1 });
      expect(store.offset('t', 0)).toBe('5');
    });
  });

  it.each([
    ['a negative offset', -1],
    ['a fractional offset', 1.5],
    ['a non-numeric string', 'abc'],
    ['a leading-zero string', '007'],
    ['an offset past int64', '9223372036854775808'],
  ])('%s', async (_label, offset) => {
    await withStore(async (store) => {
      store.partition('t', 0).put('k', 1);
      await expect(store.commit([{ topic: 't', partition: 0, offset: offset as number }])).rejects.toThrow(
        InvalidArgumentError,
      );
      // nothing was captured: the change is still pending and lands with a good commit
      expect(store.stats().dirtyEntries).toBe(1);
      await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
      expect(store.offset('t', 0)).toBe('1');
    });
  });

  it.each([
    ['an empty topic', '', 0],
    ['a topic with a slash', 'a/b', 0],
    ['a negative partition', 't', -1],
    ['a fractional partition', 't', 0.5],
  ])('%s', async (_label, topic, partition) => {
    await withStore(async (store) => {
      expect(() => store.partition(topic, partition)).toThrow(InvalidArgumentError);
    });
  });

  it('rejects a bad TTL and a bad range limit', async () => {
    await withStore(async (store) => {
      const p = store.partition('t', 0);
      expect(() => p.put('k', 1, { ttlMs: -5 })).toThrow(/ttlMs/);
      expect(() => p.put('k', 1, { ttlMs: Number.NaN })).toThrow(/ttlMs/);
      expect(p.has('k')).toBe(false);
      expect(() => [...p.entries({ limit: -1 })]).toThrow(/limit/);
    });
  });

  it.each([
    [{}, /needs a "path"/],
    [{ path: '' }, /needs "path"/],
    [{ backend: 'redis' }, /backend must be/],
    [{ backend: 'memory', cacheEntries: 0 }, /cacheEntries/],
    [{ backend: 'memory', cacheEntries: 1.5 }, /cacheEntries/],
    [{ backend: 'memory', defaultTtlMs: -1 }, /defaultTtlMs/],
    [{ backend: 'memory', schemaVersion: 0 }, /schemaVersion/],
    [{ backend: 'memory', cachEntries: 10 }, /unknown state store option "cachEntries"/],
    [{ backend: 'memory', migrations: { one: () => 1 } }, /migrations/],
  ])('invalid config %j', async (options, message) => {
    const err = await StateStore.open(options as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
