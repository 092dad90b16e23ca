import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { assertTopicPartition, type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';
import type { HeaderValue, SourceRecord } from './source.js';

/** A record to append to an {@link InProcessLog}. */
export interface LogRecordInput {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, HeaderValue>;
  /** ms since epoch; default now. */
  timestamp?: number;
  /** Partition; default: hash of the key (or round robin for null keys). */
  partition?: number;
}

/**
 * An in-memory, append-only log of topics and partitions with Kafka's
 * offset semantics, for the demo, tests and users without a broker. Several
 * `InProcessSource`s can read one log, like consumers of a broker.
 */
export class InProcessLog {
  private readonly topics = new Map<string, SourceRecord[][]>();
  private readonly listeners = new Set<() => void>();
  private readonly starts = new Map<string, number>();
  private roundRobin = 0;

  /** Creates a topic with `partitions` partitions (idempotent for the same count). */
  createTopic(topic: string, partitions: number): void {
    assertTopicPartition(topic, 0);
    if (!Number.isInteger(partitions) || partitions < 1)
      throw new InvalidArgumentError(`partitions must be >= 1, got ${partitions}`);
    const existing = this.topics.get(topic);
    if (existing !== undefined && existing.length !== partitions) {
      throw new InvalidArgumentError(`topic ${topic} already has ${existing.length} partitions`);
    }
    if (existing === undefined)
      this.topics.set(
        topic,
        Array.from({ length: partitions }, () => []),
      );
  }

  /** Partitions of a topic. */
  partitions(topic: string): TopicPartition[] {
    return this.log(topic).map((_, partition) => ({ topic, partition }));
  }

  /** Appends records; returns their offsets. */
  append(topic: string, records: readonly LogRecordInput[]): Array<{ partition: number; offset: string }> {
    const parts = this.log(topic);
    const out = records.map((r) => {
      const key = toBuffer(r.key);
      const partition = r.partition ?? (key === null ? this.roundRobin++ % parts.length : hash(key) % parts.length);
      const log = parts[partition];
      if (log === undefined) throw new InvalidArgumentError(`topic ${topic} has no partition ${partition}`);
      const offset = String(log.length);
      log.push({
        topic,
        partition,
        offset,
        key,
        value: toBuffer(r.value),
        headers: r.headers ?? {},
        timestamp: String(r.timestamp ?? Date.now()),
      });
      return { partition, offset };
    });
    for (const l of this.listeners) l();
    return out;
  }

  /**
   * Deletes a partition's records before `offset`, as Kafka's retention or
   * `deleteRecords` does: the log then starts at `offset` (never moves back).
   */
  deleteRecords(tp: TopicPartition, offset: number): void {
    const log = this.partitionLog(tp);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > log.length) {
      throw new InvalidArgumentError(`offset must be between 0 and ${log.length}, got ${offset}`);
    }
    const k = formatTopicPartition(tp);
    this.starts.set(k, Math.max(this.starts.get(k) ?? 0, offset));
  }

  /** The first offset still in a partition's log. */
  startOffset(tp: TopicPartition): string {
    this.partitionLog(tp);
    return String(this.starts.get(formatTopicPartition(tp)) ?? 0);
  }

  /** Offset the next record of a partition will get. */
  endOffset(tp: TopicPartition): string {
    return String(this.partitionLog(tp).length);
  }

  /** Up to `max` records from `offset` on (none below the log start: those are deleted). */
  read(tp: TopicPartition, offset: number, max: number): SourceRecord[] {
    const from = Math.max(offset, Number(this.startOffset(tp)));
    return this.partitionLog(tp).slice(from, from + max);
  }

  /** Calls `fn` after every append; returns an unsubscribe function. */
  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private log(topic: string): SourceRecord[][] {
    const parts = this.topics.get(topic);
    if (parts === undefined) throw new InvalidArgumentError(`unknown topic ${topic}: create it with createTopic()`);
    return parts;
  }

  private partitionLog(tp: TopicPartition): SourceRecord[] {
    const log = this.log(tp.topic)[tp.partition];
    if (log === undefined) throw new InvalidArgumentError(`topic ${tp.topic} has no partition ${tp.partition}`);
    return log;
  }
}

function toBuffer(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v) : v;
}

// FNV-1a: stable key -> partition, not Kafka's murmur2 (nothing shares this log with Kafka).
function hash(key: Buffer): number {
  let h = 0x811c9dc5;
  for (const b of key) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}
