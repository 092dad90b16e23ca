import { afterEach, describe, expect, it, vi } from 'vitest';
import { notifyObservers, observerFailures } from '../../src/util/observers.js';

interface Hooks {
  a?(n: number): void;
  b?(s: string): void;
}

describe('notifyObservers', () => {
  afterEach(() => vi.restoreAllMocks());

  it('calls each observer that has the hook, in order, with its this', () => {
    const seen: string[] = [];
    const first = {
      name: 'first',
      a(this: { name: string }, n: number) {
        seen.push(`${this.name}:${n}`);
      },
    };
    const second: Hooks = { b: () => seen.push('never') };
    notifyObservers<Hooks, 'a'>('test', [first, undefined, second, { a: (n) => seen.push(`third:${n}`) }], 'a', 7);
    expect(seen).toEqual(['first:7', 'third:7']);
  });

  it('a throwing observer never reaches the caller nor the next observer; warned once per hook, then counted', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const broken: Hooks = {
      a() {
        throw new Error('metrics are down');
      },
      b() {
        throw 'not an Error';
      },
    };
    const after: number[] = [];
    for (let i = 0; i < 5; i++) notifyObservers<Hooks, 'a'>('test', [broken, { a: (n) => after.push(n) }], 'a', i);
    notifyObservers<Hooks, 'b'>('test', [broken], 'b', 'x');
    expect(after).toEqual([0, 1, 2, 3, 4]);
    expect(observerFailures(broken, 'a')).toBe(5);
    expect(observerFailures(broken, 'b')).toBe(1);
    expect(observerFailures({}, 'a')).toBe(0);
    expect(warn.mock.calls.map((c) => c[0])).toEqual([
      'tidemark: test observer a threw: metrics are down (ignored; reported once per observer and hook)',
      'tidemark: test observer b threw: not an Error (ignored; reported once per observer and hook)',
    ]);
  });
});
