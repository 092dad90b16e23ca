import { notifyObservers } from '../util/observers.js';
import type { TopicPartition } from '../util/topic-partition.js';

/**
 * What started a checkpoint: a call (`manual`), the timer (`periodic`), the
 * coordinator's or the pipeline's stop (`stop`), or a rebalance handing
 * partitions over (`revoke`).
 */
export type CheckpointTrigger = 'manual' | 'periodic' | 'stop' | 'revoke';

/** A checkpoint was published. */
export interface CheckpointCompletedEvent {
  id: string;
  trigger: CheckpointTrigger;
  /** From the snapshot to the manifest's directory fsync. */
  durationMs: number;
  partitions: number;
  entries: number;
  rawBytes: number;
  storedBytes: number;
  /** When it completed, ms since the epoch (the coordinator's clock). */
  at: number;
  /** `incremental` when at least one partition was written as a delta segment (format 2), else `full`. */
  kind: 'full' | 'incremental';
  /** Segments written in full, and as deltas. */
  fullSegments: number;
  deltaSegments: number;
  /** The longest chain among its partitions: deltas since their full segment (0 when all are full). */
  chainLength: number;
}

/** A checkpoint failed (or timed out); nothing of it is visible. */
export interface CheckpointFailedEvent {
  trigger: CheckpointTrigger;
  durationMs: number;
  error: Error;
  consecutiveFailures: number;
  healthy: boolean;
}

/** A retention pass ran. */
export interface RetentionEvent {
  deleted: string[];
  deletedIncomplete: string[];
  quarantined: string[];
  kept: number;
  durationMs: number;
}

/** A restore finished (successfully: nothing is reported for a refused one but the error). */
export interface RestoreEvent {
  durationMs: number;
  restored: Array<TopicPartition & { checkpointId: string; offset: string | null; entries: number }>;
  skipped: Array<{ id: string; reason: string }>;
  missing: TopicPartition[];
}

/**
 * Progress of one partition's restore (in the style of Kafka Streams'
 * KIP-869): sent after each decoded chunk written to staging, and once when
 * the partition is swapped in (`done`) or its staging abandoned (`failed`,
 * e.g. a corrupt checkpoint before a fallback).
 */
export interface RestoreProgressEvent extends TopicPartition {
  checkpointId: string;
  phase: 'streaming' | 'done' | 'failed';
  recordsRestored: number;
  recordsTotal: number;
  /** Raw record bytes (docs/FORMAT.md "Records"). */
  bytesRestored: number;
  bytesTotal: number;
  /** Since this partition's restore from this checkpoint started. */
  elapsedMs: number;
}

/** A checkpoint failed verification and was (or could not be) quarantined. */
export interface CorruptCheckpointEvent {
  id: string;
  reason: string;
  quarantined: boolean;
}

/**
 * Hooks for metrics and logs (src/metrics implements one with prom-client).
 * Every method is optional; an observer that throws is reported once per
 * hook with `process.emitWarning` and otherwise ignored.
 */
export interface CheckpointObserver {
  checkpointStarted?(event: { id: string; trigger: CheckpointTrigger; partitions: TopicPartition[] }): void;
  checkpointCompleted?(event: CheckpointCompletedEvent): void;
  checkpointFailed?(event: CheckpointFailedEvent): void;
  healthChanged?(event: { healthy: boolean; consecutiveFailures: number }): void;
  retentionCompleted?(event: RetentionEvent): void;
  retentionFailed?(event: { error: Error }): void;
  restoreCompleted?(event: RestoreEvent): void;
  restoreProgress?(event: RestoreProgressEvent): void;
  corruptCheckpoint?(event: CorruptCheckpointEvent): void;
}

/** Calls one observer hook; one that throws never breaks the caller (see {@link notifyObservers}). */
export function notify<K extends keyof CheckpointObserver>(
  observer: CheckpointObserver | undefined,
  hook: K,
  event: Parameters<NonNullable<CheckpointObserver[K]>>[0],
): void {
  notifyObservers<CheckpointObserver, K>('checkpoint', [observer], hook, ...([event] as never));
}
