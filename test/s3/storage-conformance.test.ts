// The CheckpointStorage contract (src/checkpoint/storage.ts), one suite run
// against the local directory and against S3 on a real server; then what S3
// adds: no overwrite, multipart debris, permanent errors.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  LocalDirectoryStorage,
  ObjectStorageError,
  type CheckpointStorage,
  type S3RetryEvent,
} from '../../src/index.js';
import { MIN_PART_BYTES } from '../../src/checkpoint/s3-storage.js';
import { tmpDir } from '../helpers/tmp.js';
import { s3Server, s3Storage } from './support.js';

const PART = MIN_PART_BYTES;

async function put(s: CheckpointStorage, key: string, data: Buffer | string): Promise<number> {
  const w = await s.create(key);
  await w.write(typeof data === 'string' ? Buffer.from(data) : data);
  return w.commit();
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return parts;
}

const storages: Array<[string, () => Promise<CheckpointStorage>]> = [
  ['local directory', async () => new LocalDirectoryStorage({ path: path.join(tmpDir('conf'), 'ck') })],
  ['S3', async () => (await s3Storage({ prefix: 'team/ck', partBytes: PART })).storage],
];

describe.each(storages)('CheckpointStorage contract: %s', (_name, open) => {
  it('an object is visible only once commit resolves, with all its bytes', async () => {
    const s = await open();
    const w = await s.create('c1/seg');
    await w.write(Buffer.from('hello '));
    await w.write(Buffer.from('world'));
    expect(await s.list('')).toEqual([]);
    await expect(s.read('c1/seg')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await w.commit()).toBe(11);
    expect((await s.read('c1/seg')).toString()).toBe('hello world');
    expect((await s.list('')).map((o) => [o.key, o.size])).toEqual([['c1/seg', 11]]);
    await expect(w.write(Buffer.from('late'))).rejects.toThrow(/after commit/);
  });

  it('abort leaves nothing, also after several parts were written, and is idempotent', async () => {
    const s = await open();
    const w = await s.create('c1/big');
    await w.write(randomBytes(PART + 1000));
    await w.write(randomBytes(PART));
    await w.abort();
    await w.abort();
    expect(await s.list('')).toEqual([]);
    // Nothing of the object is left to clean (a directory may have an empty folder).
    expect((await s.cleanup!(0)).filter((k) => k.startsWith('c1/big'))).toEqual([]);
    await expect(s.read('c1/big')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a large object written in odd chunks reads back byte-exact, whole and in chunks', async () => {
    const s = await open();
    const data = randomBytes(2 * PART + 12_345);
    const w = await s.create('c1/large');
    for (let off = 0; off < data.length; off += 777_777) await w.write(data.subarray(off, off + 777_777));
    expect(await w.commit()).toBe(data.length);
    expect((await s.read('c1/large')).equals(data)).toBe(true);
    const chunks = await collect(s.readChunks('c1/large', { chunkBytes: 1 << 20 }));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(2 << 20);
  });

  it('lists by prefix with sizes and modification times', async () => {
    const s = await open();
    const before = Date.now();
    await put(s, 'c1/manifest', 'm');
    await put(s, 'c1/t.0.seg', 'x'.repeat(5000));
    await put(s, 'c2/t.0.seg', 'y');
    await put(s, 'readers/c1/h~1~n', '{}');
    const all = (await s.list('')).map((o) => `${o.key}:${o.size}`).sort();
    expect(all).toEqual(['c1/manifest:1', 'c1/t.0.seg:5000', 'c2/t.0.seg:1', 'readers/c1/h~1~n:2']);
    expect((await s.list('c1/')).map((o) => o.key).sort()).toEqual(['c1/manifest', 'c1/t.0.seg']);
    expect(await s.list('nothing/')).toEqual([]);
    for (const o of await s.list('')) {
      // S3 keeps whole seconds.
      expect(o.modifiedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(o.modifiedAt).toBeLessThanOrEqual(Date.now() + 1000);
    }
  });

  it('removes (a missing object is no error) and renames (a missing source is ENOENT)', async () => {
    const s = await open();
    await put(s, 'c1/seg', 'abc');
    await put(s, 'c1/manifest', 'm');
    await s.rename('c1/seg', 'quarantine/c1/seg');
    expect((await s.read('quarantine/c1/seg')).toString()).toBe('abc');
    await expect(s.read('c1/seg')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(s.rename('c1/seg', 'quarantine/c1/seg2')).rejects.toMatchObject({ code: 'ENOENT' });
    await s.remove('c1/manifest');
    await s.remove('c1/manifest');
    await s.remove('never/was');
    expect((await s.list('')).map((o) => o.key)).toEqual(['quarantine/c1/seg']);
  });

  it('a missing object is ENOENT for read and readChunks; an oversized read is refused', async () => {
    const s = await open();
    await expect(s.read('no/such')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(collect(s.readChunks('no/such'))).rejects.toMatchObject({ code: 'ENOENT' });
    await put(s, 'c1/manifest', 'x'.repeat(100));
    await expect(s.read('c1/manifest', { maxBytes: 99 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await s.read('c1/manifest', { maxBytes: 100 })).length).toBe(100);
  });

  it('refuses bad keys and prefixes with InvalidArgumentError', async () => {
    const s = await open();
    for (const key of ['', '../x', 'a/../b', 'a//b', '/a', 'a/', 'a b', 'ä']) {
      await expect(s.create(key)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.read(key)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.remove(key)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(s.list('c1')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.list('../')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('cleanup removes the debris of a write that never completed, once old enough, and never an object', async () => {
    const s = await open();
    await put(s, 'c1/manifest', 'm');
    const w = await s.create('c2/seg');
    await w.write(randomBytes(PART + 10)); // a writer that dies here
    expect(await s.list('')).toHaveLength(1);
    expect(await s.cleanup!(60_000)).toEqual([]);
    const removed = await s.cleanup!(0);
    expect(removed.some((k) => k.startsWith('c2/seg'))).toBe(true);
    expect((await s.list('')).map((o) => o.key)).toEqual(['c1/manifest']);
    expect((await s.read('c1/manifest')).toString()).toBe('m');
  });
});

describe('S3 storage on a real server', () => {
  it('never overwrites an object: a second publish of a key fails and the first stays (small and multipart)', async () => {
    const { storage: s } = await s3Storage({ partBytes: PART });
    await put(s, 'c1/manifest.json', 'first');
    await expect(put(s, 'c1/manifest.json', 'second')).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await s.read('c1/manifest.json')).toString()).toBe('first');
    const big = randomBytes(PART + 5);
    await put(s, 'c1/seg', big);
    await expect(put(s, 'c1/seg', randomBytes(PART + 5))).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await s.read('c1/seg')).equals(big)).toBe(true);
    // Reader markers are refreshed in place.
    await put(s, 'readers/c1/h~1~n', '{"a":1}');
    await put(s, 'readers/c1/h~1~n', '{"a":2}');
    expect((await s.read('readers/c1/h~1~n')).toString()).toBe('{"a":2}');
  });

  it('an aborted multipart upload leaves no object and no upload on the server; the bucket directory has only published files', async () => {
    const { storage: s, bucket, dir } = await s3Storage({ partBytes: PART, prefix: 'p' });
    const w = await s.create('c1/seg');
    await w.write(randomBytes(2 * PART));
    const open = await s.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(open.Uploads?.map((u) => u.Key)).toEqual(['p/c1/seg']);
    await w.abort();
    const after = await s.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(after.Uploads ?? []).toEqual([]);
    expect(await s.list('')).toEqual([]);
    await put(s, 'c1/manifest.json', 'm');
    expect((await import('node:fs')).readFileSync(path.join(dir, 'p', 'c1', 'manifest.json'), 'utf8')).toBe('m');
  });

  it('a missing bucket and wrong credentials are one clear error at once, never retried', async () => {
    const retries: S3RetryEvent[] = [];
    const { storage: noBucket } = await s3Storage({ bucket: 'tm-no-such-bucket', onRetry: (e) => retries.push(e) });
    const err = await noBucket.list('').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStorageError);
    expect(err).toMatchObject({ code: 'ERR_TIDEMARK_OBJECT_STORAGE', serverCode: 'NoSuchBucket', transient: false });
    expect((err as Error).message).toMatch(/bucket does not exist/);
    await expect(put(noBucket, 'c1/x', 'x')).rejects.toMatchObject({ serverCode: 'NoSuchBucket' });
    const srv = s3Server();
    const { storage: denied } = await s3Storage({
      credentials: { accessKeyId: srv.accessKey, secretAccessKey: 'not-the-secret' },
      onRetry: (e) => retries.push(e),
    });
    await expect(denied.read('c1/x')).rejects.toMatchObject({
      code: 'ERR_TIDEMARK_OBJECT_STORAGE',
      serverCode: 'SignatureDoesNotMatch',
      transient: false,
    });
    expect(retries).toEqual([]);
  });
});
