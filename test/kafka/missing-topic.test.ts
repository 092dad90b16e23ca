// Issue 8, item 10: a consumer started before its topic exists waits for it,
// not ready and saying why, instead of dying with kafkajs's "This server does
// not host this topic-partition"; a bound turns the wait into a coded error.
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  Pipeline,
  StateStore,
  TidemarkMetrics,
  TopicNotFoundError,
  type PartitionState,
  type PipelineMessage,
} from '../../src/index.js';
import { brokers, createAdmin, createKafka, produce, uniqueGroupId, uniqueTopicName } from '../helpers/kafka.js';
import { createSource } from './support/source-factory.js';

function count(message: PipelineMessage, state: PartitionState): void {
  state.update<number>(message.key!.toString(), (n) => (n ?? 0) + 1);
}

async function pipelineOn(
  topic: string,
  topicWaitMs?: number,
): Promise<{ pipeline: Pipeline; waiting: string[]; store: StateStore }> {
  const waiting: string[] = [];
  const store = await StateStore.open({ backend: 'memory' });
  const pipeline = new Pipeline({
    source: createSource({
      clientId: 'tidemark-test-missing-topic',
      brokers: brokers(),
      groupId: uniqueGroupId('tm-mt'),
      topics: [topic],
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      ...(topicWaitMs === undefined ? {} : { topicWaitMs }),
    }),
    store,
    handler: count,
    handleSignals: false,
    commitInterval: { records: 100, ms: 50 },
    observers: [{ waiting: (reason) => waiting.push(reason) }],
  });
  onTestFinished(() => pipeline.stop().catch(() => undefined));
  return { pipeline, waiting, store };
}

describe('a consumer started before its topic exists', () => {
  it('waits for the topic, not ready and saying so, then proceeds when it appears', async () => {
    const topic = uniqueTopicName('tm-mt');
    const { pipeline, waiting, store } = await pipelineOn(topic);
    const metrics = new TidemarkMetrics();
    metrics.instrument(pipeline);
    const started = pipeline.start();
    let startSettled = false;
    void started.finally(() => (startSettled = true));

    await expect.poll(() => waiting.length, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    expect(waiting[0]).toMatch(
      new RegExp(
        `^waiting for topic\\(s\\) ${topic} to exist \\(group tm-mt-\\S+; waited 0 s, giving up after 600 s\\)$`,
      ),
    );
    expect(pipeline.ready).toBe(false);
    expect(metrics.readiness()).toEqual({ ok: false, reason: waiting[0] });
    expect(startSettled).toBe(false);

    const admin = await createAdmin();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    onTestFinished(async () => {
      const cleaner = createKafka('tidemark-test-cleanup').admin();
      await cleaner.connect();
      await cleaner.deleteTopics({ topics: [topic] }).finally(() => cleaner.disconnect());
    });
    await produce(
      topic,
      Array.from({ length: 5 }, () => ({ key: 'k', value: 'v' })),
    );
    await started;
    await expect.poll(() => pipeline.positions()[0]?.offset, { timeout: 30_000, interval: 20 }).toBe('5');
    expect(pipeline.ready).toBe(true);
    expect(metrics.readiness()).toEqual({ ok: true });
    expect(store.partition(topic, 0).get('k')).toBe(5);
    await pipeline.stop();
  });

  it('gives up after topicWaitMs with TopicNotFoundError naming the topic', async () => {
    const topic = uniqueTopicName('tm-mt');
    const { pipeline } = await pipelineOn(topic, 500);
    const err = await pipeline.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopicNotFoundError);
    expect(err).toMatchObject({ code: 'ERR_TIDEMARK_TOPIC_NOT_FOUND', topics: [topic] });
    expect((err as Error).message).toMatch(new RegExp(`^topic\\(s\\) ${topic} did not exist after waiting \\d+ s`));
    await expect(pipeline.done).rejects.toBe(err);
  });

  it('stops promptly while waiting', async () => {
    const { pipeline, waiting } = await pipelineOn(uniqueTopicName('tm-mt'));
    const started = pipeline.start();
    await expect.poll(() => waiting.length, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    const before = performance.now();
    await pipeline.stop();
    await started;
    await pipeline.done;
    expect(performance.now() - before).toBeLessThan(2000);
  });

  it('refuses a bad topicWaitMs', () => {
    expect(() => createSource({ brokers: brokers(), groupId: 'g', topics: ['t'], topicWaitMs: -1 })).toThrow(
      /"topicWaitMs" must be an integer >= 0/,
    );
  });
});
