/**
 * Where checkpoints live: a flat namespace of immutable objects addressed by
 * `/`-separated keys, as in an object store. The local-directory
 * implementation maps keys to files; an S3-like implementation can map them
 * to object keys one to one.
 *
 * What the repository relies on, and nothing more:
 * - `create(key)` ... `commit()` publishes an object atomically and durably:
 *   before `commit()` resolves nobody sees the key, after it everyone sees all
 *   of its bytes (a local temp file + fsync + rename + directory fsync; an
 *   object store's single PUT or completed multipart upload).
 * - Visibility of a checkpoint is decided by the existence of its manifest
 *   object alone, never by a directory rename.
 * - `list` reflects published objects (read-after-write for our own writes).
 *
 * Errors: a missing object rejects with an error whose `code` is `'ENOENT'`;
 * anything else (ENOSPC, EIO, a network failure) rejects with the
 * implementation's error, ideally carrying a Node-style `code`.
 */
export interface CheckpointStorage {
  /** Human-readable location, for messages (a path, a bucket URL). */
  readonly location: string;
  /** Starts writing an object; nothing is visible under `key` until `commit()` resolves. */
  create(key: string): Promise<ObjectWriter>;
  /** Reads a whole object. Rejects if it is larger than `maxBytes` (when given). */
  read(key: string, options?: ReadOptions): Promise<Buffer>;
  /** Reads an object as a sequence of chunks of about `chunkBytes`. */
  readChunks(key: string, options?: ReadChunksOptions): AsyncIterable<Buffer>;
  /** Every published object whose key starts with `prefix` (`''` or a prefix ending in `/`), any order. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Removes an object, durably; a missing object is not an error. */
  remove(key: string): Promise<void>;
  /** Moves an object to a new key, durably (an object store may copy then delete). */
  rename(from: string, to: string): Promise<void>;
  /**
   * Removes debris of writes that never completed (temp files, empty
   * directories; an object store's abandoned multipart uploads) older than
   * `olderThanMs`. Returns what it removed. Optional.
   */
  cleanup?(olderThanMs: number): Promise<string[]>;
}

/** An object being written. Call exactly one of `commit` or `abort`. */
export interface ObjectWriter {
  /** Appends bytes. The chunk may be reused by the caller once the promise resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the object durable and visible under its key; resolves with its size in bytes. */
  commit(): Promise<number>;
  /** Discards what was written; idempotent, never rejects. */
  abort(): Promise<void>;
}

/** A published object. */
export interface StoredObject {
  key: string;
  size: number;
  /** Last modification time, ms since the epoch. */
  modifiedAt: number;
}

/** Options for {@link CheckpointStorage.read}. */
export interface ReadOptions {
  /** Refuse objects larger than this many bytes (e.g. a manifest that is not one). */
  maxBytes?: number;
}

/** Options for {@link CheckpointStorage.readChunks}. */
export interface ReadChunksOptions {
  /** Preferred chunk size in bytes; default 1 MiB. */
  chunkBytes?: number;
}

// One key segment: a checkpoint id, a file name, `quarantine`, `readers`.
const SEGMENT_RE = /^[A-Za-z0-9._~-]{1,255}$/;

/** True for keys of the form `a/b/c` whose segments are safe file names. */
export function isValidKey(key: string): boolean {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) return false;
  return key.split('/').every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..');
}

/** Creates an error that storage implementations use for a missing object. */
export function notFound(key: string, location: string): Error {
  const err = new Error(`no object ${key} in ${location}`) as NodeJS.ErrnoException;
  err.code = 'ENOENT';
  return err;
}
