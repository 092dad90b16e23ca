import { describe, expect, it } from 'vitest';
import {
  collectMessages,
  createAdmin,
  createConsumer,
  createTopic,
  produce,
  waitForConsumerToJoinGroup,
} from '../helpers/kafka.js';

// Smoke test of the real broker the kafka project runs against: if this
// fails, every other Kafka test would fail for the same reason.
describe('test Kafka broker', () => {
  it('round-trips 100 keyed messages through a 4-partition topic, partitioned as the Java client would', async () => {
    const admin = await createAdmin();
    const topic = await createTopic(admin, { partitions: 4 });

    // 20 keys, 5 messages each; per key, `seq` is its production order.
    const messages = Array.from({ length: 100 }, (_, i) => ({
      key: `key-${i % 20}`,
      value: JSON.stringify({ i, seq: Math.floor(i / 20) }),
    }));
    await produce(topic, messages);

    // The broker holds all of them: on a new topic a partition's high
    // watermark (the next offset to write) is its message count.
    const watermarks = await admin.fetchTopicOffsets(topic);
    const written = new Map(watermarks.map((w) => [w.partition, Number(w.high)]));
    expect([...written.values()].reduce((a, b) => a + b, 0)).toBe(100);

    const consumer = createConsumer();
    const joined = waitForConsumerToJoinGroup(consumer);
    let crashed: unknown;
    consumer.on(consumer.events.CRASH, (e) => (crashed = e.payload.error));
    const disconnected = new Promise<void>((resolve) => consumer.on(consumer.events.DISCONNECT, () => resolve()));
    const collector = collectMessages(100);

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: collector.eachMessage });

    const join = await joined;
    expect(join.payload.memberAssignment[topic]?.slice().sort()).toEqual([0, 1, 2, 3]);

    const received = await collector.done;
    await consumer.disconnect();
    await disconnected;
    expect(crashed).toBeUndefined();
    expect(received).toHaveLength(100); // and nothing arrived after the 100th

    // Every message exactly once.
    const values = received.map((m) => JSON.parse(m.message.value!.toString()) as { i: number; seq: number });
    expect(values.map((v) => v.i).sort((a, b) => a - b)).toEqual(messages.map((_, i) => i));

    // Per partition: as many as the broker holds, offsets 0..n-1 in order.
    const byPartition = new Map<number, string[]>();
    for (const m of received) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m.message.offset]);
    for (const [partition, offsets] of byPartition) {
      expect(offsets).toEqual(Array.from({ length: written.get(partition)! }, (_, o) => String(o)));
    }

    // Distribution: Java's producer puts key k on toPositive(murmur2(k)) % 4.
    // These counts come from org.apache.kafka.common.utils.Utils (kafka-clients
    // 3.9.1) for key-0..key-19, five messages each.
    const counts = [0, 1, 2, 3].map((p) => byPartition.get(p)?.length ?? 0);
    expect(counts).toEqual([30, 35, 15, 20]);

    // Each key lives on one partition, its messages in production order.
    const seqsByKey = new Map<string, { partitions: Set<number>; seqs: number[] }>();
    for (const m of received) {
      const key = m.message.key!.toString();
      const entry = seqsByKey.get(key) ?? { partitions: new Set(), seqs: [] };
      entry.partitions.add(m.partition);
      entry.seqs.push((JSON.parse(m.message.value!.toString()) as { seq: number }).seq);
      seqsByKey.set(key, entry);
    }
    expect(seqsByKey.size).toBe(20);
    for (const { partitions, seqs } of seqsByKey.values()) {
      expect(partitions.size).toBe(1);
      expect(seqs).toEqual([0, 1, 2, 3, 4]);
    }
  });
});
