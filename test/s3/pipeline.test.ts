// A pipeline checkpointing to S3 keeps processing while the server is gone:
// checkpoints fail (none lists as valid), records are applied and committed;
// once the server is back a checkpoint publishes and restores exactly.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointRepository, InProcessLog, InProcessSource, Pipeline, StateStore } from '../../src/index.js';
import { accountRecord, balanceHandler, reference, type Balance } from '../helpers/accounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { FaultProxy } from './fault-proxy.js';
import { s3Server, s3Storage } from './support.js';

const TOPIC = 'payments';

describe('a pipeline with S3 checkpoints', () => {
  it('keeps processing while the server is gone, and checkpoints again once it is back', async () => {
    const proxy = new FaultProxy(s3Server().endpoint);
    await proxy.start();
    const { storage: direct, bucket } = await s3Storage({ prefix: 'pl' });
    const { storage } = await s3Storage({
      bucket,
      prefix: 'pl',
      endpoint: proxy.endpoint,
      retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, attemptTimeoutMs: 2000 },
    });
    const log = new InProcessLog();
    log.createTopic(TOPIC, 4);
    const records = Array.from({ length: 3000 }, (_, i) => accountRecord(i));
    log.append(TOPIC, records.slice(0, 1000));
    const dir = tmpDir('s3pl');
    const store = await StateStore.open({ path: path.join(dir, 'state') });
    const completed: string[] = [];
    const failed: string[] = [];
    const observer = {
      checkpointCompleted: (e: { id: string }) => void completed.push(e.id),
      checkpointFailed: (e: { error: Error }) => void failed.push(e.error.message),
    };
    const repository = new CheckpointRepository({ storage });
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: [TOPIC], maxBatchRecords: 100 }),
      store,
      handler: balanceHandler,
      handleSignals: false,
      commitInterval: { records: 100, ms: 20 },
      checkpoints: { repository, coordinator: { intervalMs: 100, minPauseMs: 0, observer } },
    });
    const caughtUp = () =>
      expect
        .poll(
          () => pipeline.positions().length === 4 && pipeline.positions().every((p) => p.offset === log.endOffset(p)),
          { timeout: 20_000, interval: 5 },
        )
        .toBe(true);
    try {
      await pipeline.start();
      await caughtUp();
      await expect.poll(() => completed.length, { timeout: 20_000 }).toBeGreaterThan(0);

      // The server is gone: checkpoints fail, processing goes on.
      await proxy.stop();
      const failedBefore = failed.length;
      log.append(TOPIC, records.slice(1000, 2000));
      await caughtUp();
      await expect.poll(() => failed.length, { timeout: 20_000 }).toBeGreaterThan(failedBefore);
      expect(failed.at(-1)).toMatch(/ECONNREFUSED|ECONNRESET|timeout/);
      const validWhileDown = (await new CheckpointRepository({ storage: direct }).list())
        .filter((c) => c.status === 'valid')
        .map((c) => c.id);
      expect(validWhileDown.every((id) => completed.includes(id))).toBe(true);

      // Back: the next checkpoint publishes and holds everything applied.
      await proxy.start();
      log.append(TOPIC, records.slice(2000));
      await caughtUp();
      const doneBefore = completed.length;
      await expect.poll(() => completed.length, { timeout: 20_000 }).toBeGreaterThan(doneBefore);
    } finally {
      await pipeline.stop();
      await store.close();
      await proxy.stop();
    }
    // The final checkpoint (on stop) restores to exactly the reference state.
    const checker = new CheckpointRepository({ storage: direct });
    const target = await StateStore.open({ path: path.join(tmpDir('s3pl'), 'restored') });
    try {
      const r = await checker.restore(target);
      expect(r.skipped).toEqual([]);
      const got = new Map<string, Balance>();
      for (let p = 0; p < 4; p++) {
        expect(target.offset(TOPIC, p)).toBe(log.endOffset({ topic: TOPIC, partition: p }));
        for (const e of target.partition(TOPIC, p).entries<Balance>()) got.set(e.key as string, e.value);
      }
      expect(got).toEqual(reference(records));
    } finally {
      await target.close();
      await checker.close();
    }
  });
});
