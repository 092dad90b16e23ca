// Where the chaos test's members share their checkpoints: a directory path
// (LocalDirectoryStorage) or `s3://bucket/prefix` (the S3 storage).
import * as tidemark from '../../src/index.js';
import type { CheckpointStorage } from '../../src/index.js';

type S3FromUrl = (url: string) => CheckpointStorage;

/**
 * The checkpoint storage for `location`. A path is a local (or mounted,
 * shared) directory. `s3://bucket/prefix` goes to the S3 storage's
 * `s3StorageFromUrl` (endpoint, region and credentials from the standard AWS
 * variables, e.g. AWS_ENDPOINT_URL for a local versitygw), looked up at run
 * time so this file compiles before the S3 storage is merged; until then an
 * s3:// location fails here with a clear message.
 */
export function openCheckpointStorage(location: string): CheckpointStorage {
  if (/^s3:\/\//i.test(location)) {
    const fromUrl = (tidemark as unknown as Record<string, unknown>).s3StorageFromUrl as S3FromUrl | undefined;
    if (typeof fromUrl !== 'function') {
      throw new Error(`checkpoint location ${location}: this tree has no S3 checkpoint storage (s3StorageFromUrl) yet`);
    }
    return fromUrl(location);
  }
  return new tidemark.LocalDirectoryStorage({ path: location });
}
