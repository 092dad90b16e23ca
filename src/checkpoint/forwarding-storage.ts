import type { CheckpointStorage, ObjectWriter, ReadChunksOptions, ReadOptions, StoredObject } from './storage.js';

/**
 * A storage that passes every call to another one. Extend it to watch or
 * change some calls (count bytes read, inject faults, add a metric) and
 * inherit the rest.
 */
export class ForwardingStorage implements CheckpointStorage {
  readonly location: string;

  constructor(
    /** The storage calls go to. */
    readonly inner: CheckpointStorage,
    location: string = inner.location,
  ) {
    this.location = location;
  }

  create(key: string): Promise<ObjectWriter> {
    return this.inner.create(key);
  }

  read(key: string, options?: ReadOptions): Promise<Buffer> {
    return this.inner.read(key, options);
  }

  readChunks(key: string, options?: ReadChunksOptions): AsyncIterable<Buffer> {
    return this.inner.readChunks(key, options);
  }

  list(prefix: string): Promise<StoredObject[]> {
    return this.inner.list(prefix);
  }

  remove(key: string): Promise<void> {
    return this.inner.remove(key);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  async cleanup(olderThanMs: number): Promise<string[]> {
    return this.inner.cleanup === undefined ? [] : this.inner.cleanup(olderThanMs);
  }
}
