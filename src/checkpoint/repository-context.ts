// What the repository's parts (writer, listing, segment reader, restore
// executor) share: a narrow view of the repository, not the facade itself.
import { CheckpointFailedError } from '../errors/checkpoint-failed-error.js';
import type { StorageError } from '../errors/storage-error.js';
import { storageFailure, syscallCodeOf } from '../errors/storage-failure.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import type { Clock } from '../util/clock.js';
import type { CodecWorker } from './codec-client.js';
import type { CheckpointObserver } from './observer.js';
import type { ReaderRegistry } from './readers.js';
import type { CheckpointStorage, StoredObject } from './storage.js';

/** The repository's state as its parts see it. */
export interface RepositoryContext {
  readonly storage: CheckpointStorage;
  /** Key for new checkpoints, if they are encrypted. */
  readonly key: Buffer | undefined;
  /** Every key this repository can read with, by fingerprint. */
  readonly keys: ReadonlyMap<string, Buffer>;
  /** zstd level of new checkpoints. */
  readonly level: number;
  readonly codec: CodecWorker;
  readonly readers: ReaderRegistry;
  readonly clock: Clock;
  readonly observer: CheckpointObserver | undefined;
}

/** Lists objects under `prefix`, storage failures as {@link StorageError}. */
export async function listObjects(ctx: Pick<RepositoryContext, 'storage'>, prefix: string): Promise<StoredObject[]> {
  try {
    return await ctx.storage.list(prefix);
  } catch (err) {
    throw storageError(`cannot list checkpoints in ${ctx.storage.location}`, err);
  }
}

/** Writes one small object atomically (manifest, quarantine note). */
export async function publishObject(
  storage: CheckpointStorage,
  key: string,
  bytes: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const writer = await storage.create(key);
  try {
    await writer.write(bytes);
    signal?.throwIfAborted();
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * Storage failures (anything with a Node-style code) become StorageError;
 * tidemark errors pass through; anything else is wrapped as is.
 */
export function storageError(message: string, err: unknown): Error {
  if (err instanceof TidemarkError) return err;
  if (syscallCodeOf(err) === undefined) {
    const detail = err instanceof Error ? err.message : String(err);
    return new CheckpointFailedError(`${message}: ${detail}`, { cause: err });
  }
  return storageFailure(message, err);
}
