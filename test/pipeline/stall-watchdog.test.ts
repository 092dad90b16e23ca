import { describe, expect, it } from 'vitest';
import {
  InProcessLog,
  InProcessSource,
  Pipeline,
  StateStore,
  TidemarkMetrics,
  type StalledPartition,
} from '../../src/index.js';

// Issue 8, item 14: a consumer that cannot make progress says why (observer
// event, /readyz, a metric), never sits silent.
describe('the stall watchdog', () => {
  it('reports a partition with records waiting and no batch for stallAfterMs, not ready until it moves again', async () => {
    const log = new InProcessLog();
    log.createTopic('t', 2);
    log.append(
      't',
      Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: 'v', partition: i % 2 })),
    );
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reports: StalledPartition[][] = [];
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: ['t'], maxBatchRecords: 5 }),
      store: await StateStore.open({ backend: 'memory' }),
      handleSignals: false,
      stallAfterMs: 200,
      observers: [{ stalled: (p) => reports.push(p) }],
      handler: async (m, state, ctx) => {
        if (ctx.partition === 1 && ctx.offset === '7') await gate; // a handler call that does not return
        state.put(m.key!, 1);
      },
    });
    const metrics = new TidemarkMetrics();
    metrics.instrument(pipeline);
    await pipeline.start();
    await expect.poll(() => reports.length, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
    expect(reports[0]).toEqual([
      { topic: 't', partition: 1, next: '5', logEnd: '10', idleMs: expect.any(Number) as number },
    ]);
    expect(reports[0]![0]!.idleMs).toBeGreaterThanOrEqual(200);
    expect(pipeline.ready).toBe(false);
    expect(metrics.readiness()).toEqual({
      ok: false,
      reason: expect.stringMatching(/^stalled: t:1 \(at 5 of 10, no batch for \d+ s\)$/) as string,
    });
    expect(
      (await metrics.registry.getSingleMetricAsString('tidemark_stalled_partitions')).trim().split('\n').at(-1),
    ).toBe('tidemark_stalled_partitions 1');

    release();
    await expect.poll(() => reports.at(-1), { timeout: 5000, interval: 10 }).toEqual([]);
    await expect.poll(() => pipeline.ready, { timeout: 5000, interval: 10 }).toBe(true);
    expect(metrics.readiness()).toEqual({ ok: true });
    // An idle partition at the end of its log is not stalled.
    await new Promise((r) => setTimeout(r, 500));
    expect(reports.at(-1)).toEqual([]);
    expect(pipeline.ready).toBe(true);
    await pipeline.stop();
  });
});
