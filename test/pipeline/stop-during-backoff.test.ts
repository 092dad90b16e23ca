import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  InProcessLog,
  InProcessSource,
  Pipeline,
  StateStore,
  type PartitionState,
  type PipelineMessage,
  type RecordHandler,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 't';

function count(message: PipelineMessage, state: PartitionState): void {
  state.update<number>(message.key!.toString(), (n) => (n ?? 0) + 1);
}

async function run(
  log: InProcessLog,
  state: string,
  handler: RecordHandler,
  commit: { records: number; ms: number },
): Promise<Pipeline> {
  const store = await StateStore.open({ path: state });
  const pipeline = new Pipeline({
    source: new InProcessSource({ log, topics: [TOPIC], maxBatchRecords: 10 }),
    store,
    handler,
    handleSignals: false,
    commitInterval: commit,
    errors: { retries: 3, backoffMs: 300 },
  });
  await pipeline.start();
  return pipeline;
}

async function stored(
  state: string,
): Promise<Array<{ partition: number; offset: string | undefined; count: number | undefined }>> {
  const store = await StateStore.open({ path: state });
  try {
    return [0, 1].map((partition) => ({
      partition,
      offset: store.offset(TOPIC, partition),
      count: store.partition(TOPIC, partition).get<number>(partition === 0 ? 'k' : 'j'),
    }));
  } finally {
    await store.close();
  }
}

describe('a stop during a retry backoff', () => {
  // Issue 8, item 1: records applied before the failing one were committed
  // with the offset of the batch start, so a restart applied them again.
  it.each([
    ['nothing committed before the failure', { records: 1000, ms: 60_000 }, '15'],
    ['the first batch committed, another partition committing at the stop', { records: 10, ms: 60_000 }, '12'],
  ])('commits state exactly at its stored offset (%s)', async (_label, commit, poison) => {
    const log = new InProcessLog();
    log.createTopic(TOPIC, 2);
    log.append(
      TOPIC,
      Array.from({ length: 20 }, () => ({ key: 'k', value: 'v', partition: 0 })),
    );
    log.append(
      TOPIC,
      Array.from({ length: 5 }, () => ({ key: 'j', value: 'v', partition: 1 })),
    );
    const state = path.join(tmpDir('backoff'), 'state');

    let failing = true;
    let failedOnce!: () => void;
    const failed = new Promise<void>((resolve) => (failedOnce = resolve));
    const first = await run(
      log,
      state,
      (m, s, ctx) => {
        count(m, s);
        if (failing && ctx.partition === 0 && ctx.offset === poison) {
          failedOnce();
          throw new Error('flaky');
        }
      },
      commit,
    );
    await failed; // in its 300 ms backoff now
    await first.stop();
    failing = false;

    // Committed state is the state at its stored offset: count == offset.
    for (const s of await stored(state)) {
      expect(s.count ?? 0, `partition ${s.partition} at offset ${s.offset}`).toBe(Number(s.offset ?? 0));
    }

    const second = await run(log, state, count, commit);
    await expect
      .poll(() => second.positions().find((p) => p.partition === 0)?.offset, { timeout: 10_000, interval: 5 })
      .toBe('20');
    await expect
      .poll(() => second.positions().find((p) => p.partition === 1)?.offset, { timeout: 10_000, interval: 5 })
      .toBe('5');
    await second.stop();
    expect(await stored(state)).toEqual([
      { partition: 0, offset: '20', count: 20 },
      { partition: 1, offset: '5', count: 5 },
    ]);
  });
});
