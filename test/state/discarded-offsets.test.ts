import { describe, expect, it } from 'vitest';
import { StateStore, TidemarkError } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('a failed commit whose changes are discarded', () => {
  it('takes its offsets with it: a later commit of another partition does not write them', async () => {
    const store = await StateStore.open({ path: tmpDir('discard') });
    const p0 = store.partition('t', 0);
    p0.put('a', 1);
    await store.commit([{ topic: 't', partition: 0, offset: 5 }]);
    const v: Record<string, unknown> = { n: 2 };
    p0.put('a', v);
    v.f = () => 0; // changed after put() into something unstorable: the commit refuses it
    const err = await store.commit([{ topic: 't', partition: 0, offset: 10 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TidemarkError);
    expect((err as TidemarkError).code).toBe('ERR_TIDEMARK_INVALID_VALUE');
    store.release('t', 0, { discard: true }); // the pipeline rolls the partition back

    store.partition('t', 1).put('b', 1);
    await store.commit([{ topic: 't', partition: 1, offset: 3 }]);
    expect(store.offset('t', 0)).toBe('5');
    expect(store.partition('t', 0).get('a')).toBe(1);
    expect(store.offset('t', 1)).toBe('3');
    await store.close();
  });

  it('a restore after a failed commit keeps the restored offset', async () => {
    const store = await StateStore.open({ path: tmpDir('discard') });
    const p0 = store.partition('t', 0);
    const v: Record<string, unknown> = {};
    p0.put('a', v);
    v.s = Symbol('x');
    await expect(store.commit([{ topic: 't', partition: 0, offset: 10 }])).rejects.toThrow(/cannot be stored/);
    store.release('t', 0, { discard: true });
    await store.replacePartition({ topic: 't', partition: 0 }, [], '7');
    await store.commit([{ topic: 't', partition: 1, offset: 1 }]);
    expect(store.offset('t', 0)).toBe('7');
    await store.close();
  });
});
