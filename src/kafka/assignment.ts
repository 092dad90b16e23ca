import { compareTopicPartitions, type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';

/** How an assignment changed at a rebalance. */
export interface AssignmentChange {
  assigned: TopicPartition[];
  revoked: TopicPartition[];
  retained: TopicPartition[];
}

/** Flattens kafkajs's `memberAssignment` ({ topic: partitions[] }). */
export function flattenAssignment(memberAssignment: Readonly<Record<string, readonly number[]>>): TopicPartition[] {
  return Object.entries(memberAssignment)
    .flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))
    .sort(compareTopicPartitions);
}

/**
 * kafkajs 2.2.4 has no partitions-revoked hook: the pipeline learns each new
 * assignment from the GROUP_JOIN event and diffs it with the previous one.
 */
export function diffAssignment(previous: readonly TopicPartition[], next: readonly TopicPartition[]): AssignmentChange {
  const k = formatTopicPartition;
  const before = new Set(previous.map(k));
  const after = new Set(next.map(k));
  return {
    assigned: next.filter((tp) => !before.has(k(tp))),
    revoked: previous.filter((tp) => !after.has(k(tp))),
    retained: next.filter((tp) => before.has(k(tp))),
  };
}

/** Groups partitions by topic, the shape kafkajs's pause/resume take. */
export function byTopic(tps: readonly TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const tp of tps) m.set(tp.topic, [...(m.get(tp.topic) ?? []), tp.partition]);
  return [...m.entries()].map(([topic, partitions]) => ({ topic, partitions }));
}
