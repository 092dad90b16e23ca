// tidemark_checkpoint_storage_retries_total counts every retried S3 request,
// by operation and reason, for throttling injected in front of a real server.
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { CheckpointRepository, TidemarkMetrics } from '../../src/index.js';
import { checkpointNow, fill, openStore } from '../checkpoint/support.js';
import { FaultProxy } from './fault-proxy.js';
import { s3Server, s3Storage } from './support.js';

describe('S3 retries metric', () => {
  it('counts each retried request by operation and reason', async () => {
    const proxy = new FaultProxy(s3Server().endpoint);
    await proxy.start();
    try {
      const metrics = new TidemarkMetrics({ registry: new Registry() });
      const { storage } = await s3Storage({
        endpoint: proxy.endpoint,
        retry: { baseDelayMs: 1, maxDelayMs: 5 },
        onRetry: metrics.storageRetryObserver,
      });
      const repo = new CheckpointRepository({ storage });
      const store = await openStore();
      await fill(store, { topic: 'orders', partition: 0 }, 50, 50);
      proxy.faults.push(
        {
          match: (m, u) => m === 'PUT' && u.includes('.seg'),
          action: { kind: 'throttle', status: 503, code: 'SlowDown' },
          times: 3,
        },
        {
          match: (m, u) => m === 'PUT' && /\/manifest(\?|$)/.test(u),
          action: { kind: 'throttle', status: 500, code: 'InternalError' },
        },
        { match: (m) => m === 'GET', action: { kind: 'throttle', status: 429, code: 'TooManyRequests' } },
      );
      await checkpointNow(store, repo);
      expect((await repo.list()).length).toBe(1);
      await repo.close();
      const text = await metrics.registry.metrics();
      const series = text
        .split('\n')
        .filter((l) => l.startsWith('tidemark_checkpoint_storage_retries_total{'))
        .sort();
      expect(series).toEqual([
        'tidemark_checkpoint_storage_retries_total{operation="ListObjectsV2",reason="TooManyRequests"} 1',
        'tidemark_checkpoint_storage_retries_total{operation="PutObject",reason="InternalError"} 1',
        'tidemark_checkpoint_storage_retries_total{operation="PutObject",reason="SlowDown"} 3',
      ]);
    } finally {
      await proxy.stop();
    }
  });
});
