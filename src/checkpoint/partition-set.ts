// Sets of partitions as the repository takes them from callers.
import { assertTopicPartition, type TopicPartition } from '../util/topic-partition.js';

/** `${topic}:${partition}`, the map key of a partition. */
export function tpKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}

/** Checks each partition and drops repeats, keeping the first. */
export function uniquePartitions(tps: Iterable<TopicPartition>): Map<string, TopicPartition> {
  const out = new Map<string, TopicPartition>();
  for (const tp of tps) {
    assertTopicPartition(tp?.topic, tp?.partition);
    out.set(tpKey(tp), { topic: tp.topic, partition: tp.partition });
  }
  return out;
}
