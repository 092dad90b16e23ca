import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors/storage-error.js';
import {
  lmdbDataVersion,
  META_OFFSET,
  META_SCHEMA,
  openPartitionEnv,
  PARTITION_LAYOUT,
  readPartitionFile,
  sameLayout,
} from '../../src/state/partition-file.js';
import { tmpDir } from '../helpers/tmp.js';

describe('partition file (layout 1)', () => {
  const tmp = (): string => tmpDir('pfile');

  it('reads back what a partition environment holds, with its layout', async () => {
    const file = path.join(tmp(), 'events.0.g1.mdb');
    const env = openPartitionEnv(file, { readOnly: false });
    env.root.transactionSync(() => {
      for (let i = 0; i < 100; i++) env.data.putSync(Buffer.from(`k${String(i).padStart(3, '0')}`), Buffer.from([i]));
      env.meta.putSync(META_OFFSET, '4242');
      env.meta.putSync(META_SCHEMA, 3);
    });
    await env.root.close();
    const r = readPartitionFile(file);
    try {
      expect(r.offset).toBe('4242');
      expect(r.schemaVersion).toBe(3);
      expect(r.entries).toBe(100);
      expect(r.layout).toEqual({
        pageSize: expect.any(Number),
        dataVersion: lmdbDataVersion(file),
        layout: PARTITION_LAYOUT,
      });
      expect(sameLayout(r.layout, { ...r.layout })).toBe(true);
      expect(sameLayout(r.layout, { ...r.layout, layout: 2 })).toBe(false);
      const keys = [...r.read()].map((e) => e.key.toString());
      expect(keys.length).toBe(100);
      expect(keys[0]).toBe('k000');
      expect(keys[99]).toBe('k099');
    } finally {
      await r.close();
    }
  });

  it('refuses a file that is not an LMDB environment with a StorageError', () => {
    const file = path.join(tmp(), 'junk.mdb');
    fs.writeFileSync(file, Buffer.alloc(16384, 7));
    expect(lmdbDataVersion(file)).toBeUndefined();
    expect(() => readPartitionFile(file)).toThrow(StorageError);
  });
});
