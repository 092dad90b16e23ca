import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { functionOption } from '../util/options.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { DIR_MODE, FILE_MODE, fsyncDir, isErrno } from '../util/fs.js';
import {
  isValidKey,
  notFound,
  type CheckpointStorage,
  type ObjectWriter,
  type ReadChunksOptions,
  type ReadOptions,
  type StoredObject,
} from './storage.js';

/**
 * A step of publishing one object, in order: create the temp file, fsync it,
 * rename it to its key, fsync the directory; `committed` once all are done.
 */
export type PublishStep = 'create' | 'fsync' | 'rename' | 'dir-fsync' | 'committed';

/** Options for {@link LocalDirectoryStorage}. */
export interface LocalDirectoryStorageOptions {
  /** Root directory (created 0700 on first write). */
  path: string;
  /**
   * Called before each publication step (and once after the last): a fault
   * injection hook for crash tests. A rejection fails the write like an
   * I/O error would.
   */
  onStep?: (step: PublishStep, key: string) => void | Promise<void>;
}

// Temp files: `<name>.tmp-<16 hex>`, in the object's own directory so the
// final rename never crosses a filesystem.
const TEMP_RE = /\.tmp-[0-9a-f]{16}$/;

/**
 * Checkpoint storage in a local directory: key `a/b` is file `<root>/a/b`.
 * Objects are published by writing `<name>.tmp-<random>` (0600), fsyncing it,
 * renaming it into place and fsyncing the directory, so a crash leaves either
 * no object or the whole object. Directories are 0700.
 */
export class LocalDirectoryStorage implements CheckpointStorage {
  readonly location: string;
  private readonly root: string;
  private readonly onStep: LocalDirectoryStorageOptions['onStep'];

  constructor(options: LocalDirectoryStorageOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('local storage options must be an object');
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ConfigError('local checkpoint storage needs "path": the checkpoint directory');
    }
    functionOption('onStep', options.onStep);
    this.root = path.resolve(options.path);
    this.location = this.root;
    this.onStep = options.onStep;
  }

  async create(key: string): Promise<ObjectWriter> {
    const file = this.file(key);
    const dir = path.dirname(file);
    await this.ensureDir(dir);
    await this.step('create', key);
    const temp = `${file}.tmp-${randomBytes(8).toString('hex')}`;
    const handle = await fsp.open(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, FILE_MODE);
    let size = 0;
    let done = false;
    const discard = async (): Promise<void> => {
      await handle.close().catch(() => undefined);
      await fsp.unlink(temp).catch(() => undefined);
    };
    return {
      write: async (chunk) => {
        if (done) throw new Error(`write after commit or abort of ${key}`);
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
        size += chunk.length;
      },
      commit: async () => {
        if (done) throw new Error(`${key} was already committed or aborted`);
        done = true;
        try {
          await this.step('fsync', key);
          await handle.sync();
          await handle.close();
          await this.step('rename', key);
          await fsp.rename(temp, file);
        } catch (err) {
          await discard();
          throw err;
        }
        await this.step('dir-fsync', key);
        await fsyncDir(dir);
        await this.step('committed', key);
        return size;
      },
      abort: async () => {
        if (done) return;
        done = true;
        await discard();
      },
    };
  }

  async read(key: string, options: ReadOptions = {}): Promise<Buffer> {
    const file = this.file(key);
    const handle = await this.openForRead(key, file);
    try {
      const { size } = await handle.stat();
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new InvalidArgumentError(`${key} is ${size} bytes, more than the ${options.maxBytes} expected`);
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async *readChunks(key: string, options: ReadChunksOptions = {}): AsyncIterable<Buffer> {
    const file = this.file(key);
    // Open first so a missing file is reported as ENOENT before any chunk.
    const handle = await this.openForRead(key, file);
    const stream = createReadStream('', { fd: handle, highWaterMark: options.chunkBytes ?? 1 << 20 });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      stream.destroy();
      await handle.close().catch(() => undefined);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    if (prefix !== '' && (!prefix.endsWith('/') || !isValidKey(prefix.slice(0, -1)))) {
      throw new InvalidArgumentError(`invalid list prefix ${JSON.stringify(prefix)}: use '' or a key followed by '/'`);
    }
    const out: StoredObject[] = [];
    await this.walk(path.join(this.root, ...prefix.split('/').filter(Boolean)), prefix, async (key, full, isTemp) => {
      if (isTemp) return;
      try {
        const st = await fsp.stat(full);
        out.push({ key, size: st.size, modifiedAt: st.mtimeMs });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    });
    return out;
  }

  async remove(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await fsp.unlink(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await fsyncDir(path.dirname(file));
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.file(from);
    const dst = this.file(to);
    await this.ensureDir(path.dirname(dst));
    try {
      await fsp.rename(src, dst);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(from, this.location);
      throw err;
    }
    await fsyncDir(path.dirname(dst));
    if (path.dirname(src) !== path.dirname(dst)) {
      await fsyncDir(path.dirname(src));
      await this.pruneEmptyDirs(path.dirname(src));
    }
  }

  async cleanup(olderThanMs: number): Promise<string[]> {
    const removed: string[] = [];
    const cutoff = Date.now() - olderThanMs;
    await this.walk(this.root, '', async (key, full, isTemp) => {
      if (!isTemp) return;
      try {
        const st = await fsp.stat(full);
        if (st.mtimeMs > cutoff) return;
        await fsp.unlink(full);
        removed.push(key);
        await this.pruneEmptyDirs(path.dirname(full));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    });
    // Directories left empty by a crash between mkdir and the first file.
    await this.removeEmptyDirs(this.root, cutoff, removed);
    return removed;
  }

  private async removeEmptyDirs(dir: string, cutoff: number, removed: string[]): Promise<boolean> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    let empty = true;
    for (const e of entries) {
      if (!e.isDirectory() || !(await this.removeEmptyDirs(path.join(dir, e.name), cutoff, removed))) empty = false;
    }
    if (!empty || dir === this.root) return false;
    try {
      if ((await fsp.stat(dir)).mtimeMs > cutoff) return false;
      await fsp.rmdir(dir);
      removed.push(`${path.relative(this.root, dir).split(path.sep).join('/')}/`);
      return true;
    } catch {
      return false;
    }
  }

  private file(key: string): string {
    if (!isValidKey(key) || TEMP_RE.test(key))
      throw new InvalidArgumentError(`invalid storage key ${JSON.stringify(key)}`);
    return path.join(this.root, ...key.split('/'));
  }

  private async openForRead(key: string, file: string): Promise<fsp.FileHandle> {
    try {
      return await fsp.open(file, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw notFound(key, this.location);
      throw err;
    }
  }

  private async step(step: PublishStep, key: string): Promise<void> {
    if (this.onStep !== undefined) await this.onStep(step, key);
  }

  // Creates missing directories (0700) from the root down, fsyncing each
  // parent so the new entries survive a crash.
  private async ensureDir(dir: string): Promise<void> {
    const missing: string[] = [];
    for (let d = dir; ; d = path.dirname(d)) {
      try {
        await fsp.stat(d);
        break;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      missing.unshift(d);
      if (d === path.dirname(d)) break;
    }
    for (const d of missing) {
      try {
        await fsp.mkdir(d, { mode: DIR_MODE });
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      await fsp.chmod(d, DIR_MODE);
      await fsyncDir(path.dirname(d));
    }
  }

  // Removes now-empty directories between `dir` and the root (not the root).
  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        await fsp.rmdir(d);
      } catch {
        return; // not empty (or gone): stop climbing
      }
    }
  }

  private async walk(
    dir: string,
    prefix: string,
    visit: (key: string, full: string, isTemp: boolean) => Promise<void>,
  ): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw err;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const key = `${prefix}${e.name}`;
      if (e.isDirectory()) await this.walk(full, `${key}/`, visit);
      else if (e.isFile()) await visit(key, full, TEMP_RE.test(e.name));
    }
  }
}
