import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidArgumentError, LocalDirectoryStorage } from '../../src/index.js';
import type { PublishStep } from '../../src/checkpoint/local-storage.js';
import { tmpDir } from '../helpers/tmp.js';
import { filesUnder } from './support.js';

async function put(s: LocalDirectoryStorage, key: string, text: string): Promise<void> {
  const w = await s.create(key);
  await w.write(Buffer.from(text));
  await w.commit();
}

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts).toString();
}

describe('local directory storage', () => {
  it('publishes an object only on commit, with 0600 files and 0700 directories', async () => {
    const root = path.join(tmpDir('ls'), 'ck');
    const s = new LocalDirectoryStorage({ path: root });
    const w = await s.create('a/b/obj');
    await w.write(Buffer.from('hello '));
    await w.write(Buffer.from('world'));
    expect(await s.list('')).toEqual([]); // the temp file is not an object
    expect(filesUnder(root)).toHaveLength(1);
    expect(fs.existsSync(path.join(root, 'a/b/obj'))).toBe(false);
    expect(await w.commit()).toBe(11);
    expect((await s.read('a/b/obj')).toString()).toBe('hello world');
    expect(filesUnder(root)).toEqual(['a/b/obj 11']);
    expect(fs.statSync(path.join(root, 'a/b/obj')).mode & 0o777).toBe(0o600);
    for (const d of [root, path.join(root, 'a'), path.join(root, 'a/b')])
      expect(fs.statSync(d).mode & 0o777).toBe(0o700);
  });

  it('abort leaves nothing; a write after commit is refused', async () => {
    const root = tmpDir('ls');
    const s = new LocalDirectoryStorage({ path: root });
    const w = await s.create('x/obj');
    await w.write(Buffer.from('partial'));
    await w.abort();
    await w.abort(); // idempotent
    expect(filesUnder(root)).toEqual([]);
    const w2 = await s.create('x/obj');
    await w2.commit();
    await expect(w2.write(Buffer.from('late'))).rejects.toThrow(/after commit/);
  });

  it('lists, reads in chunks, renames and removes, pruning empty directories', async () => {
    const root = tmpDir('ls');
    const s = new LocalDirectoryStorage({ path: root });
    await put(s, 'c1/manifest', 'm');
    await put(s, 'c1/t.0.seg', 'x'.repeat(5000));
    await put(s, 'c2/t.0.seg', 'y');
    const keys = (await s.list('')).map((o) => `${o.key}:${o.size}`).sort();
    expect(keys).toEqual(['c1/manifest:1', 'c1/t.0.seg:5000', 'c2/t.0.seg:1']);
    expect((await s.list('c1/')).map((o) => o.key).sort()).toEqual(['c1/manifest', 'c1/t.0.seg']);
    expect(await s.list('nothing/')).toEqual([]);
    expect(await collect(s.readChunks('c1/t.0.seg', { chunkBytes: 1000 }))).toBe('x'.repeat(5000));
    await s.rename('c1/manifest', 'quarantine/c1/manifest');
    await s.rename('c1/t.0.seg', 'quarantine/c1/t.0.seg');
    expect(fs.existsSync(path.join(root, 'c1'))).toBe(false);
    expect((await s.list('quarantine/')).length).toBe(2);
    await s.remove('c2/t.0.seg');
    await s.remove('c2/t.0.seg'); // missing: fine
    expect(fs.existsSync(path.join(root, 'c2'))).toBe(false);
    expect(fs.existsSync(root)).toBe(true);
  });

  it('reports a missing object as ENOENT and refuses oversized reads', async () => {
    const s = new LocalDirectoryStorage({ path: tmpDir('ls') });
    await expect(s.read('no/such')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(collect(s.readChunks('no/such'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(s.rename('no/such', 'x/y')).rejects.toMatchObject({ code: 'ENOENT' });
    await put(s, 'big', 'x'.repeat(100));
    await expect(s.read('big', { maxBytes: 10 })).rejects.toThrow(/100 bytes/);
  });

  it('refuses keys that could escape the root or collide with temp files', async () => {
    const s = new LocalDirectoryStorage({ path: tmpDir('ls') });
    for (const key of [
      '',
      '/abs',
      '../up',
      'a/../b',
      'a//b',
      'a/./b',
      'sp ace',
      'x.tmp-0123456789abcdef',
      'a/'.repeat(600),
    ]) {
      await expect(s.create(key), key).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(s.list('a')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => new LocalDirectoryStorage({ path: '' })).toThrow(ConfigError);
    expect(() => new LocalDirectoryStorage({ path: 'x', onStep: 3 as never })).toThrow(ConfigError);
  });

  it('calls the fault hook before each publication step, in order; a failing step publishes nothing', async () => {
    const steps: string[] = [];
    const s = new LocalDirectoryStorage({
      path: tmpDir('ls'),
      onStep: (step, key) => void steps.push(`${step} ${key}`),
    });
    await put(s, 'k/obj', 'data');
    expect(steps).toEqual(['create k/obj', 'fsync k/obj', 'rename k/obj', 'dir-fsync k/obj', 'committed k/obj']);
    for (const failAt of ['fsync', 'rename'] as PublishStep[]) {
      const root = tmpDir('ls');
      const f = new LocalDirectoryStorage({
        path: root,
        onStep: (step) => {
          if (step === failAt) throw Object.assign(new Error('injected EIO'), { code: 'EIO' });
        },
      });
      await expect(put(f, 'k/obj', 'data')).rejects.toMatchObject({ code: 'EIO' });
      expect(filesUnder(root), failAt).toEqual([]);
    }
  });

  it('cleanup removes stale temp files and empty directories, never objects or fresh temp files', async () => {
    const root = tmpDir('ls');
    const s = new LocalDirectoryStorage({ path: root });
    await put(s, 'keep/obj', 'x');
    const w = await s.create('crashed/seg');
    await w.write(Buffer.from('half'));
    fs.mkdirSync(path.join(root, 'empty-dir'), { recursive: true });
    expect(await s.cleanup(60_000)).toEqual([]); // everything is fresh
    const old = new Date(Date.now() - 3_600_000);
    for (const f of fs.readdirSync(path.join(root, 'crashed'))) fs.utimesSync(path.join(root, 'crashed', f), old, old);
    fs.utimesSync(path.join(root, 'empty-dir'), old, old);
    const removed = await s.cleanup(60_000);
    expect(removed.some((k) => /^crashed\/seg\.tmp-[0-9a-f]{16}$/.test(k))).toBe(true);
    expect(removed).toContain('empty-dir/');
    expect(filesUnder(root)).toEqual(['keep/obj 1']);
    expect(fs.existsSync(path.join(root, 'crashed'))).toBe(false);
  });
});
