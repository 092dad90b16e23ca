// The chaos test's reference model against the real store, with no faults:
// the members' handler, event clock and TTL sweeps over the chaos workload
// on an in-process source must end exactly at `referenceState`. A chaos
// finding is then about tidemark, not about the model.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InProcessLog, InProcessSource, Pipeline, StateStore } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { EventClock } from './event-clock.js';
import { sessionHandler } from './session-handler.js';
import { chaosRecord, referenceState, toMessage, type Session, type WorkloadOptions } from './workload.js';

const TTL_MS = 20_000;

describe('chaos reference model', () => {
  it('equals the state a faultless pipeline builds, with sweeps, evictions and transient failures', async () => {
    const records = 6000;
    const workload: WorkloadOptions = { seed: 7, baseTs: 1_700_000_000_000, stepMs: 50, keys: 300, failEvery: 600 };
    const log = new InProcessLog();
    log.createTopic('t', 6);
    log.append(
      't',
      Array.from({ length: records }, (_, i) => {
        const m = toMessage(chaosRecord(i, workload));
        return { key: m.key, value: m.value, timestamp: Number(m.timestamp) };
      }),
    );
    const dir = path.join(tmpDir('chaos-model'), 'state');
    const clock = new EventClock();
    const store = await StateStore.open({
      path: dir,
      clock,
      defaultTtlMs: TTL_MS,
      sweepIntervalMs: 5,
      cacheEntries: 200,
    });
    let sweeps = 0;
    const sweeper = setInterval(
      () =>
        void store.sweep().then(
          (n) => (sweeps += n),
          () => undefined,
        ),
      3,
    );
    const source = new InProcessSource({ log, topics: ['t'], maxBatchRecords: 50 });
    let failures = 0;
    const pipeline: Pipeline = new Pipeline({
      source,
      store,
      handler: sessionHandler(clock),
      handleSignals: false,
      commitInterval: { records: 100, ms: 5 },
      errors: { retries: 2, backoffMs: 1 },
      observers: [
        {
          rebalanced: () => clock.assigned(pipeline.assignment().map((tp) => tp.partition)),
          committed: () => {
            for (const tp of pipeline.assignment()) clock.committed(tp.partition, store.offset(tp.topic, tp.partition));
          },
          handlerFailed: () => failures++,
        },
      ],
    });
    await pipeline.start();
    await expect
      .poll(() => pipeline.positions().reduce((n, p) => n + Number(p.offset), 0), { timeout: 30_000, interval: 20 })
      .toBe(records);
    clearInterval(sweeper);
    await pipeline.stop();

    const at = chaosRecord(records - 1, workload).ts;
    const reopened = await StateStore.open({ path: dir, readOnly: true, clock: { now: () => at } });
    try {
      const got = new Map<string, Session>();
      for (let p = 0; p < 6; p++)
        for (const e of reopened.partition('t', p).entries<Session>()) got.set(e.key as string, e.value);
      const want = referenceState(records, workload, TTL_MS, at);
      expect(got).toEqual(want);
      expect(want.size).toBeGreaterThan(50); // live sessions at the end...
      expect(want.size).toBeLessThan(300); // ...and expired ones
    } finally {
      await reopened.close();
    }
    expect(failures).toBeGreaterThan(0); // the transient failures happened
    expect(sweeps).toBeGreaterThan(0); // and the sweeps removed something
  });
});
