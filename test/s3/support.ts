// Shared by the s3 tests: a fresh bucket per test on the project's real S3
// server (see global-setup.ts), removed when the test ends.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { inject, onTestFinished } from 'vitest';
import { S3CheckpointStorage, type S3CheckpointStorageOptions } from '../../src/index.js';
import { uniqueName } from '../helpers/tmp.js';

/** The server's address and credentials. */
export function s3Server(): { endpoint: string; root: string; accessKey: string; secretKey: string; region: string } {
  return inject('s3');
}

/** Creates a fresh bucket; returns its name and its directory on the server (objects are files there). */
export async function freshBucket(): Promise<{ bucket: string; dir: string }> {
  const s = s3Server();
  const bucket = uniqueName('tm').toLowerCase();
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  const dir = path.join(s.root, bucket);
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { bucket, dir };
}

/** An S3CheckpointStorage on a fresh bucket (or `bucket`), talking to `endpoint` (default: the server itself). */
export async function s3Storage(
  options: Partial<S3CheckpointStorageOptions> = {},
): Promise<{ storage: S3CheckpointStorage; bucket: string; dir: string }> {
  const s = s3Server();
  const { bucket, dir } =
    options.bucket !== undefined
      ? { bucket: options.bucket, dir: path.join(s.root, options.bucket) }
      : await freshBucket();
  const storage = new S3CheckpointStorage({
    bucket,
    endpoint: s.endpoint,
    region: s.region,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
    retry: { baseDelayMs: 10, maxDelayMs: 200 },
    ...options,
  });
  onTestFinished(() => storage.client.destroy());
  return { storage, bucket, dir };
}
