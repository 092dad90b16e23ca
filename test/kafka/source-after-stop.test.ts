// A rejoin can complete while a member stops (the chaos test's seed 3: a
// SIGTERM during a rebalance). The pipeline is then handed partitions to
// position after the source has disconnected; kafkajs throws "Consumer group
// was not initialized" on a seek or pause after disconnect(), which failed
// the stop. Positioning a stopped source is a no-op.
import { describe, expect, it } from 'vitest';
import type { SourceListener } from '../../src/pipeline/source.js';
import type { TopicPartition } from '../../src/util/topic-partition.js';
import { brokers, createAdmin, createTopic, uniqueGroupId } from '../helpers/kafka.js';
import { createSource, kafkaClient } from './support/source-factory.js';

describe(`the ${kafkaClient()} source after stop()`, () => {
  it('ignores a seek instead of throwing', async () => {
    const admin = await createAdmin();
    const topic = await createTopic(admin, { partitions: 2, prefix: 'tm-after-stop' });
    const source = createSource({
      brokers: brokers(),
      clientId: 'tm-after-stop',
      groupId: uniqueGroupId('tm-after-stop'),
      topics: [topic],
      sessionTimeout: 6000,
      heartbeatInterval: 500,
    });
    let assigned!: (tps: readonly TopicPartition[]) => void;
    const joined = new Promise<readonly TopicPartition[]>((resolve) => (assigned = resolve));
    const listener: SourceListener = {
      assigned: async (tps) => assigned(tps),
      revoked: async () => undefined,
      retained: async () => undefined,
      batch: async () => undefined,
      failed: () => undefined,
    };
    await source.start(listener);
    const tps = await joined;
    expect(tps.length).toBe(2);
    await source.stop();
    expect(() => source.seek(tps[0]!, '0')).not.toThrow();
    expect(() => source.seek(tps[1]!, 'earliest')).not.toThrow();
  });
});
