// Where the chaos test's members share their checkpoints: a directory path
// (LocalDirectoryStorage) or, once an S3 storage exists, `s3://bucket/prefix`.
import { LocalDirectoryStorage, type CheckpointStorage } from '../../src/index.js';

/**
 * The checkpoint storage for `location`. A path is a local (or mounted,
 * shared) directory. `s3://bucket/prefix` is the hook for the S3 storage
 * being built beside this test: construct it here (endpoint and credentials
 * from the environment, as its own tests do) and every chaos run can use it
 * with `CHAOS_CHECKPOINTS=s3://...` / `npm run chaos -- --checkpoints s3://...`.
 */
export function openCheckpointStorage(location: string): CheckpointStorage {
  if (location.startsWith('s3://')) {
    throw new Error(
      `checkpoint location ${location}: no S3 checkpoint storage in this tree yet; add it to test/chaos/checkpoint-location.ts (openCheckpointStorage)`,
    );
  }
  return new LocalDirectoryStorage({ path: location });
}
