import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  InProcessLog,
  InProcessSource,
  OffsetGapError,
  Pipeline,
  StateStore,
  type OffsetGap,
  type PartitionState,
  type PipelineMessage,
  type PipelineOptions,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 't';
const TP = { topic: TOPIC, partition: 0 };

function count(message: PipelineMessage, state: PartitionState): void {
  state.update<number>(message.key!.toString(), (n) => (n ?? 0) + 1);
}

function logOf(n: number): InProcessLog {
  const log = new InProcessLog();
  log.createTopic(TOPIC, 1);
  append(log, n);
  return log;
}

function append(log: InProcessLog, n: number): void {
  log.append(
    TOPIC,
    Array.from({ length: n }, () => ({ key: 'k', value: 'v', partition: 0 })),
  );
}

interface Run {
  pipeline: Pipeline;
  gaps: OffsetGap[];
}

async function start(
  log: InProcessLog,
  state: string,
  extra: Partial<PipelineOptions> = {},
  startFrom: 'earliest' | 'latest' = 'earliest',
): Promise<Run> {
  const gaps: OffsetGap[] = [];
  const pipeline = new Pipeline({
    source: new InProcessSource({ log, topics: [TOPIC], maxBatchRecords: 5, startFrom }),
    store: await StateStore.open({ path: state }),
    handler: count,
    handleSignals: false,
    commitInterval: { records: 5, ms: 20 },
    observers: [{ gap: (g) => gaps.push(g) }],
    ...extra,
  });
  await pipeline.start();
  return { pipeline, gaps };
}

async function stored(state: string): Promise<{ offset: string | undefined; count: number | undefined }> {
  const store = await StateStore.open({ path: state });
  try {
    return { offset: store.offset(TOPIC, 0), count: store.partition(TOPIC, 0).get<number>('k') };
  } finally {
    await store.close();
  }
}

async function until(run: Run, offset: string): Promise<void> {
  await expect.poll(() => run.pipeline.positions()[0]?.offset, { timeout: 10_000, interval: 5 }).toBe(offset);
}

describe('records deleted before they were processed (a gap)', () => {
  it('fails by default, naming the partition, the state offset and the log start; nothing is committed past the state', async () => {
    const log = logOf(10);
    const state = path.join(tmpDir('gap'), 'state');
    const first = await start(log, state);
    await until(first, '10');
    await first.pipeline.stop();
    append(log, 10);
    log.deleteRecords(TP, 15); // 10..14 are gone

    const second = await start(log, state);
    const err = await second.pipeline.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffsetGapError);
    expect(err).toMatchObject({
      code: 'ERR_TIDEMARK_OFFSET_GAP',
      topic: TOPIC,
      partition: 0,
      offset: '10',
      logStart: '15',
    });
    expect((err as Error).message).toMatch(
      /t:0: the state is at offset 10 but the log starts at 15: 5 record\(s\) were deleted/,
    );
    expect(await stored(state)).toEqual({ offset: '10', count: 10 });
  });

  it("with onGap: 'accept', resumes at the log start and reports the gap", async () => {
    const log = logOf(10);
    const state = path.join(tmpDir('gap'), 'state');
    const first = await start(log, state);
    await until(first, '10');
    await first.pipeline.stop();
    append(log, 10);
    log.deleteRecords(TP, 15);

    const second = await start(log, state, { onGap: 'accept' });
    await until(second, '20');
    await second.pipeline.stop();
    expect(second.gaps).toEqual([{ topic: TOPIC, partition: 0, offset: '10', logStart: '15', records: 5 }]);
    expect(await stored(state)).toEqual({ offset: '20', count: 15 });
  });

  // The source resets an out-of-range position by its own policy, to the
  // log start or to the end of the log: either way the pipeline sees it.
  it.each(['earliest', 'latest'] as const)(
    'detects records deleted while the partition is being processed (source reset to %s)',
    async (startFrom) => {
      for (const onGap of ['fail', 'accept'] as const) {
        const log = logOf(10);
        const state = path.join(tmpDir('gap'), 'state');
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let blocked!: () => void;
        const atGate = new Promise<void>((resolve) => (blocked = resolve));
        const run = await start(
          log,
          state,
          {
            onGap,
            handler: async (m, s, ctx) => {
              count(m, s);
              if (ctx.offset === '2') {
                blocked();
                await gate;
              }
            },
          },
          startFrom,
        );
        await atGate; // in the first batch, 0..4
        log.deleteRecords(TP, 8);
        release();
        if (startFrom === 'latest') {
          // Reset to the end of the log: nothing is delivered until a record
          // comes after the reset (whose moment the test cannot see).
          let settled = false;
          void run.pipeline.done.then(
            () => (settled = true),
            () => (settled = true),
          );
          await expect
            .poll(
              () => {
                if (run.gaps.length === 0 && !settled) append(log, 1);
                return run.gaps.length > 0 || settled;
              },
              { timeout: 5000, interval: 20 },
            )
            .toBe(true);
        }
        if (onGap === 'fail') {
          const err = await run.pipeline.done.catch((e: unknown) => e);
          expect(err, `${startFrom}, ${onGap}`).toBeInstanceOf(OffsetGapError);
          expect(err).toMatchObject({ offset: '5', logStart: '8' });
          expect(await stored(state)).toEqual({ offset: '5', count: 5 });
        } else {
          const end = log.endOffset(TP);
          await until(run, end);
          await run.pipeline.stop();
          expect(run.gaps).toEqual([{ topic: TOPIC, partition: 0, offset: '5', logStart: '8', records: 3 }]);
          // every record from the log start on, none twice
          expect(await stored(state)).toEqual({ offset: end, count: 5 + Number(end) - 8 });
        }
      }
    },
  );

  it("starts empty state at the log's actual start with emptyStateStart 'earliest', whatever the source's reset policy", async () => {
    const log = logOf(10);
    log.deleteRecords(TP, 4);
    const state = path.join(tmpDir('gap'), 'state');
    const run = await start(log, state, {}, 'latest');
    await until(run, '10');
    await run.pipeline.stop();
    expect(run.gaps).toEqual([]);
    expect(await stored(state)).toEqual({ offset: '10', count: 6 });
  });

  it('refuses a bad onGap', async () => {
    const store = await StateStore.open({ backend: 'memory' });
    const source = new InProcessSource({ log: new InProcessLog(), topics: [] });
    expect(() => new Pipeline({ source, store, handler: count, onGap: 'ignore' as never })).toThrow(
      /"onGap" must be one of fail, accept/,
    );
    await store.close();
  });
});
