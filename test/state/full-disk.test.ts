import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore, StorageError } from '../../src/index.js';
import { canMountTmpfs, smallFilesystem } from '../helpers/tmpfs.js';

describe('a full disk', () => {
  // Real: a 4 MiB tmpfs fills up under LMDB. Needs root (as here and in CI).
  it.skipIf(!canMountTmpfs && process.env.CI === undefined)(
    'fails the commit with a clear error, loses nothing, and recovers once space is freed',
    async () => {
      const fsys = smallFilesystem('4m');
      const dir = path.join(fsys.dir, 'state');
      const store = await StateStore.open({ path: dir });
      const p = store.partition('t', 0);
      let written = 0;
      let committed = '0';
      let failure: unknown;
      for (let round = 0; round < 200 && failure === undefined; round++) {
        for (let j = 0; j < 1000; j++) p.put(`k${written++}`, 'x'.repeat(100));
        try {
          await store.commit([{ topic: 't', partition: 0, offset: written }]);
          committed = String(written);
        } catch (err) {
          failure = err;
        }
      }
      expect(failure).toBeInstanceOf(StorageError);
      expect((failure as StorageError).code).toBe('ERR_TIDEMARK_STORAGE');
      expect(['EIO', 'ENOSPC']).toContain((failure as StorageError).syscallCode);
      expect((failure as Error).message).toMatch(/nothing of it was applied.*disk full/);
      // nothing lost: the failed batch is still pending, the committed offset unchanged
      expect(store.stats().dirtyEntries).toBe(1000);
      expect(store.offset('t', 0)).toBe(committed);
      expect(p.get(`k${written - 1}`)).toBe('x'.repeat(100));
      // a second attempt on the still-full disk fails the same way
      await expect(store.commit([{ topic: 't', partition: 0, offset: written }])).rejects.toThrow(StorageError);
      // free space, and the next commit carries everything, offset included
      fsys.grow('64m');
      await store.commit();
      expect(store.offset('t', 0)).toBe(String(written));
      await store.close();
      const reopened = await StateStore.open({ path: dir });
      expect(reopened.partition('t', 0).count()).toBe(written);
      expect(reopened.offset('t', 0)).toBe(String(written));
      await reopened.close();
    },
  );

  // Unit: the same contract with an injected fault, for machines that cannot mount.
  it('an injected write fault keeps changes, carries offsets to the next commit, and loses nothing', async () => {
    const store = await StateStore.open({ backend: 'memory' });
    const backend = (store as unknown as { backend: { write: (w: unknown) => void } }).backend;
    const realWrite = backend.write.bind(backend);
    let fail = true;
    backend.write = (w) => {
      if (fail) throw new StorageError('injected ENOSPC', 'ENOSPC');
      realWrite(w);
    };
    const p = store.partition('t', 0);
    p.put('a', 1);
    await expect(store.commit([{ topic: 't', partition: 0, offset: 1 }])).rejects.toThrow('injected ENOSPC');
    p.put('b', 2);
    await expect(store.commit([{ topic: 't', partition: 0, offset: 2 }])).rejects.toThrow('injected ENOSPC');
    expect(store.offset('t', 0)).toBeUndefined();
    expect(store.stats().failedCommits).toBe(2);
    expect(store.stats().dirtyEntries).toBe(2);
    fail = false;
    await store.commit(); // no offsets given: the failed commit's are carried
    expect(store.offset('t', 0)).toBe('2');
    store.release('t', 0);
    expect(store.partition('t', 0).get('a')).toBe(1);
    expect(store.partition('t', 0).get('b')).toBe(2);
    await store.close();
  });
});
