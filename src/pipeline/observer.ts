import { notifyObservers } from '../util/observers.js';
import type { TopicPartition } from '../util/topic-partition.js';
import type { SourceRecord } from './source.js';

/** Where a partition's state came from when it was assigned. */
export type RecoverySource = 'local' | 'checkpoint' | 'empty';

/** One partition's recovery, as reported to observers. */
export interface RecoveryReport extends TopicPartition {
  source: RecoverySource;
  /** Next offset the partition resumes from; undefined for empty state (the source's own position). */
  offset: string | undefined;
  durationMs: number;
  /** Checkpoint restored from, when `source` is 'checkpoint'. */
  checkpointId?: string | undefined;
  /** Checkpoints passed over (and quarantined) on the way, with reasons. */
  skipped: Array<{ id: string; reason: string }>;
}

/** A gap in a partition: the records from `offset` up to `logStart` were deleted before they were processed. */
export interface OffsetGap extends TopicPartition {
  /** The state's next offset. */
  offset: string;
  /** The first offset still in the log, where processing resumes. */
  logStart: string;
  /** Records lost: `logStart - offset`. */
  records: number;
}

/** A partition that cannot make progress, as the stall watchdog saw it. */
export interface StalledPartition extends TopicPartition {
  /** Next offset to process; undefined when not known yet. */
  next: string | undefined;
  /** End of the log when checked. */
  logEnd: string;
  /** Time since the last batch of this partition started or ended (or since its recovery). */
  idleMs: number;
}

/**
 * Hooks the pipeline calls as it works; the metrics module implements them,
 * and so can a logger. Every hook is optional. A hook that throws changes
 * nothing: its first throw is reported once (a process warning), later ones
 * are ignored.
 */
export interface PipelineObserver {
  /** Records of one batch applied (measured per batch: a per-record timer would cost more than the record). */
  batchProcessed?(tp: TopicPartition, records: number, durationMs: number): void;
  committed?(info: { durationMs: number; entries: number; partitions: number }): void;
  commitFailed?(error: Error): void;
  /** The source (Kafka group) refused the offsets; state is durable regardless. */
  sourceCommitFailed?(error: Error): void;
  recovered?(report: RecoveryReport): void;
  rebalanced?(change: { assigned: TopicPartition[]; revoked: TopicPartition[] }): void;
  /** Records between the partition's next offset and the end of its log. */
  lag?(tp: TopicPartition, lag: number): void;
  handlerFailed?(record: SourceRecord, error: Error, attempt: number): void;
  deadLettered?(record: SourceRecord, error: Error): void;
  /** Ready once every assigned partition has recovered. */
  readinessChanged?(ready: boolean): void;
  /**
   * Records of a partition were deleted before they were processed (its
   * state was at `offset`, the log starts at `logStart`) and the pipeline
   * accepted the gap (`onGap: 'accept'`): it resumes at `logStart`.
   */
  gap?(info: OffsetGap): void;
  /** The source cannot deliver yet and says why (e.g. its topic does not exist yet); repeated now and then while it waits. */
  waiting?(reason: string): void;
  /**
   * The partitions that cannot make progress now: assigned and recovered,
   * records waiting in their logs, and no batch applied for `stallAfterMs`
   * (paused, a fetch or a handler that never returns...). Called when the
   * list changes; an empty list when progress resumed. The pipeline is not
   * ready meanwhile.
   */
  stalled?(partitions: StalledPartition[]): void;
  /** The pipeline stopped on an error. */
  failed?(error: Error): void;
}

/** Calls a hook on each observer; one that throws never reaches the pipeline (see {@link notifyObservers}). */
export function notify<K extends keyof PipelineObserver>(
  observers: readonly PipelineObserver[],
  hook: K,
  ...args: Parameters<NonNullable<PipelineObserver[K]>>
): void {
  notifyObservers<PipelineObserver, K>('pipeline', observers, hook, ...(args as never));
}
