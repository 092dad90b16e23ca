import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** A Kafka topic partition: the unit of state ownership. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A partition together with the next offset to consume from it. */
export interface PartitionOffset extends TopicPartition {
  /** Next offset to read, as a decimal string (Kafka offsets are 64-bit). */
  readonly offset: string;
}

/** Offsets as callers may give them: kafkajs uses strings, users often numbers. */
export interface PartitionOffsetInput extends TopicPartition {
  readonly offset: string | number | bigint;
}

// Kafka's own rule for topic names.
const TOPIC_RE = /^[a-zA-Z0-9._-]{1,249}$/;

/** Throws unless `topic` is a legal Kafka topic name and `partition` a non-negative int32. */
export function assertTopicPartition(topic: unknown, partition: unknown): asserts topic is string {
  if (typeof topic !== 'string' || !TOPIC_RE.test(topic)) {
    throw new InvalidArgumentError(
      `invalid topic ${JSON.stringify(topic)}: use 1-249 characters from [a-zA-Z0-9._-] (Kafka's rule)`,
    );
  }
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
    throw new InvalidArgumentError(
      `invalid partition ${String(partition)} for topic ${topic}: must be an integer in [0, 2^31)`,
    );
  }
}

/** Normalizes an offset to its canonical decimal string, rejecting negatives and non-integers. */
export function normalizeOffset(offset: unknown, where: string): string {
  let s: string;
  if (typeof offset === 'string') s = offset;
  else if (typeof offset === 'bigint') s = offset.toString();
  else if (typeof offset === 'number' && Number.isSafeInteger(offset)) s = String(offset);
  else throw new InvalidArgumentError(`invalid offset ${String(offset)} for ${where}: expected a non-negative integer`);
  if (!/^(0|[1-9][0-9]{0,18})$/.test(s) || BigInt(s) > 0x7fffffffffffffffn) {
    throw new InvalidArgumentError(
      `invalid offset ${JSON.stringify(s)} for ${where}: expected a non-negative 64-bit integer`,
    );
  }
  return s;
}

/**
 * `topic:partition`: the one form used in messages, logs, the CLI, and as the
 * key of per-partition maps. {@link parseTopicPartition} reads it back.
 */
export function topicPartitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** {@link topicPartitionKey} of a partition object. */
export function formatTopicPartition(tp: TopicPartition): string {
  return topicPartitionKey(tp.topic, tp.partition);
}

/** Parses `topic:partition` (the CLI's `--partition` form). */
export function parseTopicPartition(text: string): TopicPartition {
  const i = text.lastIndexOf(':');
  const topic = i > 0 ? text.slice(0, i) : '';
  const partition = i > 0 && /^[0-9]+$/.test(text.slice(i + 1)) ? Number(text.slice(i + 1)) : Number.NaN;
  if (!topic || Number.isNaN(partition)) {
    throw new InvalidArgumentError(
      `invalid partition ${JSON.stringify(text)}: expected <topic>:<partition>, e.g. orders:3`,
    );
  }
  assertTopicPartition(topic, partition);
  return { topic, partition };
}

/** Orders partitions by topic, then partition number. */
export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}
