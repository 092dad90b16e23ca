// Faults between the client and a real S3 server, injected by a proxy of our
// own: each ends with a published checkpoint that verifies and restores, or
// with none that lists as valid, and nothing half-written visible.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  ObjectStorageError,
  type S3CheckpointStorage,
  type S3RetryEvent,
  type StateStore,
} from '../../src/index.js';
import { MIN_PART_BYTES } from '../../src/checkpoint/s3-storage.js';
import { checkpointNow, fill, openStore, rawState } from '../checkpoint/support.js';
import { FaultProxy } from './fault-proxy.js';
import { s3Server, s3Storage } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

async function setup(retry: { maxAttempts?: number; attemptTimeoutMs?: number } = {}): Promise<{
  repo: CheckpointRepository;
  storage: S3CheckpointStorage;
  direct: S3CheckpointStorage;
  retries: S3RetryEvent[];
  store: StateStore;
}> {
  proxy = new FaultProxy(s3Server().endpoint);
  await proxy.start();
  const retries: S3RetryEvent[] = [];
  const { storage: direct, bucket } = await s3Storage({ prefix: 'ck' });
  const { storage } = await s3Storage({
    bucket,
    prefix: 'ck',
    endpoint: proxy.endpoint,
    partBytes: MIN_PART_BYTES,
    retry: { baseDelayMs: 5, maxDelayMs: 50, ...retry },
    onRetry: (e) => retries.push(e),
  });
  const repo = new CheckpointRepository({ storage });
  const store = await openStore();
  // ~6 MiB of incompressible state: the segment is a two-part multipart upload.
  const p = store.partition(A0.topic, A0.partition);
  for (let i = 0; i < 3000; i++) p.put(`k${i}`, randomBytes(2048).toString('base64'));
  await store.commit([{ ...A0, offset: 3000 }]);
  return { repo, storage, direct, retries, store };
}

/** The checkpoint lists as valid, verifies, and restores to exactly the store's state; nothing else is stored. */
async function expectPublished(
  repo: CheckpointRepository,
  direct: S3CheckpointStorage,
  store: StateStore,
  id: string,
): Promise<void> {
  const checker = new CheckpointRepository({ storage: direct });
  try {
    expect((await checker.list()).map((c) => [c.id, c.status])).toEqual([[id, 'valid']]);
    expect((await checker.verify(id))[0]!.status).toBe('valid');
    const target = await openStore();
    await checker.restore(target);
    expect(await rawState(target, A0)).toEqual(await rawState(store, A0));
    expect(new Set((await direct.list('')).map((o) => o.key.split('/')[0]))).toEqual(new Set([id]));
  } finally {
    await checker.close();
    await repo.close();
  }
}

/** No checkpoint lists at all (not even incomplete), and no upload is left open once cleaned. */
async function expectNothing(repo: CheckpointRepository, direct: S3CheckpointStorage): Promise<void> {
  await repo.close();
  expect(await direct.list('')).toEqual([]);
  await direct.cleanup(0);
  const checker = new CheckpointRepository({ storage: direct });
  expect(await checker.list()).toEqual([]);
  await checker.close();
}

describe('S3 faults between client and server', () => {
  it('throttling (503 SlowDown, 429, 500) on parts, the upload completion and the manifest is retried with backoff, each retry reported', async () => {
    const { repo, direct, retries, store } = await setup();
    proxy!.faults.push(
      {
        match: (m, u) => m === 'PUT' && u.includes('partNumber=1'),
        action: { kind: 'throttle', status: 503, code: 'SlowDown' },
        times: 2,
      },
      {
        match: (m, u) => m === 'POST' && u.includes('uploadId='),
        action: { kind: 'throttle', status: 429, code: 'TooManyRequests' },
      },
      {
        match: (m, u) => m === 'PUT' && /\/manifest(\?|$)/.test(u),
        action: { kind: 'throttle', status: 500, code: 'InternalError' },
      },
    );
    const info = await checkpointNow(store, repo);
    expect(retries.map((r) => [r.operation, r.reason])).toEqual([
      ['UploadPart', 'SlowDown'],
      ['UploadPart', 'SlowDown'],
      ['CompleteMultipartUpload', 'TooManyRequests'],
      ['PutObject', 'InternalError'],
    ]);
    expect(retries.every((r) => r.delayMs >= 0 && r.delayMs <= 50)).toBe(true);
    await expectPublished(repo, direct, store, info.id);
  });

  it('a connection dropped in the middle of a part upload is retried and the checkpoint completes', async () => {
    const { repo, direct, retries, store } = await setup();
    proxy!.faults.push({
      match: (m, u) => m === 'PUT' && u.includes('partNumber=2'),
      action: { kind: 'drop', afterBytes: 64 * 1024 },
    });
    const info = await checkpointNow(store, repo);
    expect(retries.map((r) => [r.operation, r.reason])).toEqual([['UploadPart', 'ECONNRESET']]);
    await expectPublished(repo, direct, store, info.id);
  });

  it('a server stalling past the attempt deadline counts as a timeout and is retried', async () => {
    const { repo, direct, retries, store } = await setup({ attemptTimeoutMs: 1500 });
    proxy!.faults.push({
      match: (m, u) => m === 'PUT' && /\/manifest(\?|$)/.test(u),
      action: { kind: 'stall', ms: 10_000 },
    });
    const info = await checkpointNow(store, repo);
    expect(retries.map((r) => [r.operation, r.reason])).toEqual([['PutObject', 'timeout']]);
    await expectPublished(repo, direct, store, info.id);
  });

  it('a server gone for longer than the retries fails the checkpoint cleanly; back again, the next one publishes', async () => {
    const { repo, direct, retries, store } = await setup({ maxAttempts: 3 });
    // Gone from the second part on: the first part is on the server, the upload open.
    let stopped: Promise<void> | undefined;
    proxy!.faults.push({
      match: (m, u) => m === 'PUT' && u.includes('partNumber=2'),
      action: { kind: 'drop', afterBytes: 1 },
    });
    const p = proxy!;
    const realTake = p.faults[0]!.match;
    p.faults[0]!.match = (m, u) => {
      const hit = realTake(m, u);
      if (hit) stopped = p.stop();
      return hit;
    };
    const err = await checkpointNow(store, repo).catch((e: unknown) => e);
    await stopped;
    expect(err).toBeInstanceOf(ObjectStorageError);
    expect(err).toMatchObject({ code: 'ERR_TIDEMARK_OBJECT_STORAGE', transient: true });
    // Two retries of the part, then the abort of the upload, retried too, fails: cleanup removes the upload later.
    const partRetries = retries.filter((r) => r.operation === 'UploadPart');
    expect(partRetries.length).toBe(2);
    expect(retries.every((r) => r.reason === 'ECONNREFUSED' || r.reason === 'ECONNRESET')).toBe(true);
    // Nothing lists, valid or otherwise; the abandoned upload is cleaned.
    await expectNothing(repo, direct);
    // The server is back (same port): the next checkpoint publishes.
    await p.start();
    const repo2 = new CheckpointRepository({
      storage: (await s3Storage({ bucket: direct.bucket, prefix: 'ck', endpoint: p.endpoint })).storage,
    });
    await fill(store, { topic: 'orders', partition: 1 }, 10, 7);
    const info = await checkpointNow(store, repo2);
    const checker = new CheckpointRepository({ storage: direct });
    expect((await checker.list()).map((c) => [c.id, c.status])).toEqual([[info.id, 'valid']]);
    const target = await openStore();
    await checker.restore(target);
    expect(await rawState(target, A0)).toEqual(await rawState(store, A0));
    await checker.close();
    await repo2.close();
  });
});
