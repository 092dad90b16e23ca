// Issue 8, items 2 and 3 on a real broker: 'earliest' is the log's actual
// start (whatever fromBeginning says), and a state offset below the log
// start (records deleted by retention before they were processed) is never
// silent.
import * as path from 'node:path';
import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  OffsetGapError,
  Pipeline,
  StateStore,
  type OffsetGap,
  type PartitionState,
  type PipelineMessage,
  type PipelineOptions,
} from '../../src/index.js';
import { brokers, createAdmin, createTopic, produce, uniqueGroupId } from '../helpers/kafka.js';
import { tmpDir } from '../helpers/tmp.js';
import { createSource } from './support/source-factory.js';

function count(message: PipelineMessage, state: PartitionState): void {
  state.update<number>(message.key!.toString(), (n) => (n ?? 0) + 1);
}

interface Run {
  pipeline: Pipeline;
  gaps: OffsetGap[];
}

async function start(
  topic: string,
  state: string,
  fromBeginning: boolean,
  extra: Partial<PipelineOptions> = {},
): Promise<Run> {
  const gaps: OffsetGap[] = [];
  const pipeline = new Pipeline({
    source: createSource({
      clientId: 'tidemark-test-log-start',
      brokers: brokers(),
      groupId: uniqueGroupId('tm-ls'),
      topics: [topic],
      fromBeginning,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
    }),
    store: await StateStore.open({ path: state }),
    handler: count,
    handleSignals: false,
    commitInterval: { records: 100, ms: 50 },
    observers: [{ gap: (g) => gaps.push(g) }],
    ...extra,
  });
  await pipeline.start();
  return { pipeline, gaps };
}

async function stored(
  state: string,
  topic: string,
): Promise<{ offset: string | undefined; count: number | undefined }> {
  const store = await StateStore.open({ path: state });
  try {
    return { offset: store.offset(topic, 0), count: store.partition(topic, 0).get<number>('k') };
  } finally {
    await store.close();
  }
}

// kafkajs 2.2.4's deleteTopicRecords looks the partition's leader up before
// it loads the topic's metadata: on a fresh admin it fails with
// KafkaJSBrokerNotFound unless something loaded it first.
async function deleteRecords(admin: Admin, topic: string, before: string): Promise<void> {
  await admin.fetchTopicOffsets(topic);
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: before }] });
  expect((await admin.fetchTopicOffsets(topic))[0]!.low).toBe(before);
}

const records = (n: number) => Array.from({ length: n }, () => ({ key: 'k', value: 'v', partition: 0 }));

describe('the log start on a real broker', () => {
  it.each([false, true])(
    "emptyStateStart 'earliest' starts at the log start after deleteRecords (fromBeginning %s)",
    async (fromBeginning) => {
      const admin = await createAdmin();
      const topic = await createTopic(admin, { prefix: 'tm-ls' });
      await produce(topic, records(10));
      await deleteRecords(admin, topic, '4');
      const state = path.join(tmpDir('ls'), 'state');
      const run = await start(topic, state, fromBeginning);
      await expect.poll(() => run.pipeline.positions()[0]?.offset, { timeout: 30_000, interval: 20 }).toBe('10');
      await run.pipeline.stop();
      expect(await stored(state, topic)).toEqual({ offset: '10', count: 6 });
      expect(run.gaps).toEqual([]);
    },
  );

  it('a state offset below the log start fails the pipeline by default, and is resumed at the log start with onGap: accept', async () => {
    const admin = await createAdmin();
    const topic = await createTopic(admin, { prefix: 'tm-ls' });
    await produce(topic, records(10));
    const state = path.join(tmpDir('ls'), 'state');
    const first = await start(topic, state, true);
    await expect.poll(() => first.pipeline.positions()[0]?.offset, { timeout: 30_000, interval: 20 }).toBe('10');
    await first.pipeline.stop();
    await produce(topic, records(10));
    await deleteRecords(admin, topic, '15');

    for (const fromBeginning of [true, false]) {
      const failing = await start(topic, state, fromBeginning);
      const err = await failing.pipeline.done.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OffsetGapError);
      expect(err).toMatchObject({ code: 'ERR_TIDEMARK_OFFSET_GAP', topic, partition: 0, offset: '10', logStart: '15' });
      expect(await stored(state, topic)).toEqual({ offset: '10', count: 10 });
    }

    const accepting = await start(topic, state, false, { onGap: 'accept' });
    await expect.poll(() => accepting.pipeline.positions()[0]?.offset, { timeout: 30_000, interval: 20 }).toBe('20');
    await accepting.pipeline.stop();
    expect(accepting.gaps).toEqual([{ topic, partition: 0, offset: '10', logStart: '15', records: 5 }]);
    expect(await stored(state, topic)).toEqual({ offset: '20', count: 15 });
  });
});
