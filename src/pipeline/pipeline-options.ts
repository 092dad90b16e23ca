import { ConfigError } from '../errors/config-error.js';
import { booleanOption, checkOptions, intOption, oneOfOption } from '../util/options.js';
import type { CheckpointCoordinatorOptions } from '../checkpoint/coordinator.js';
import type { CheckpointRepository } from '../checkpoint/repository.js';
import type { PartitionState } from '../state/partition-state.js';
import type { StateStore } from '../state/state-store.js';
import type { PipelineObserver } from './observer.js';
import type { HeaderValue, Source, SourceRecord } from './source.js';

/** A record as the handler sees it. Tombstones have a null value; keyless records a null key. */
export interface PipelineMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly timestamp: string;
  readonly offset: string;
}

/** Where a record came from. */
export interface RecordContext {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly timestamp: string;
}

/**
 * Applies one record to its partition's state. May be async. It must be
 * deterministic in the state it writes: after a failure the pipeline rolls
 * the partition back to its last commit and replays the records since, so
 * side effects outside the state can happen more than once.
 */
export type RecordHandler = (
  message: PipelineMessage,
  state: PartitionState,
  context: RecordContext,
) => void | Promise<void>;

/** What to do with a record whose handler keeps failing. */
export interface ErrorPolicy {
  /** Attempts after the first; default 3. */
  retries?: number;
  /** First backoff in ms, doubled per attempt up to `maxBackoffMs`; default 100. */
  backoffMs?: number;
  /** Default 5,000. */
  maxBackoffMs?: number;
  /**
   * 'fail' (default): stop the pipeline; state is committed up to the record
   * before the poison one, which is delivered again on restart.
   * 'skip': hand the record to `deadLetter`, then go on without it.
   */
  onFailure?: 'fail' | 'skip';
  /** Required with 'skip'; awaited before the record is skipped. If it throws, the pipeline fails. */
  deadLetter?: (record: SourceRecord, error: Error) => void | Promise<void>;
}

/** Periodic and revocation checkpoints. */
export interface PipelineCheckpoints {
  repository: CheckpointRepository;
  /** Interval, retention, timeout...; `finalCheckpoint` is the pipeline's to decide (always on stop). */
  coordinator?: Omit<CheckpointCoordinatorOptions, 'finalCheckpoint'>;
}

/** Options for {@link Pipeline}. */
export interface PipelineOptions {
  source: Source;
  /** An open store; the pipeline closes it when it stops. */
  store: StateStore;
  handler: RecordHandler;
  /** Checkpoints for restore after a lost disk or a rebalance; omit to run without. */
  checkpoints?: PipelineCheckpoints;
  /**
   * Commit state and offsets after this many records or ms, whichever comes
   * first. Default 50,000 records / 1,000 ms. Each commit writes every key
   * changed since the last one and fsyncs: fewer, larger commits are much
   * cheaper per record (docs/BENCHMARKS.md); a crash replays at most one
   * interval of records.
   */
  commitInterval?: { records?: number; ms?: number };
  errors?: ErrorPolicy;
  observers?: PipelineObserver[];
  /**
   * Install SIGTERM and SIGINT handlers that stop the pipeline gracefully,
   * then re-raise the signal (the process ends as it would have). Default
   * false: a library leaves a process's signals to its application; an
   * application that has no handlers of its own opts in (the examples do).
   */
  handleSignals?: boolean;
  /**
   * Where a partition with no state at all (no local state, no checkpoint)
   * starts. 'earliest' (default) rebuilds the state from the whole log, which
   * is exact as long as the log still holds every record. 'source' starts
   * wherever the source would (a Kafka group's committed offset, or its
   * `fromBeginning` setting): faster, but if state existed once and was lost,
   * the records before that offset are missing from it.
   */
  emptyStateStart?: 'earliest' | 'source';
  /**
   * What to do when a partition's state is at an offset the log no longer
   * holds (records deleted by retention before they were processed): 'fail'
   * (default) stops the pipeline with an `OffsetGapError` naming the
   * partition, its state's offset and the log start; 'accept' resumes at the
   * log start without the deleted records, and reports the gap to observers
   * (`gap`; metric `tidemark_offset_gaps_total`).
   */
  onGap?: 'fail' | 'accept';
  /**
   * Stall watchdog: a recovered partition with records waiting in its log
   * and no batch applied for this long is reported to observers
   * (`stalled`), and the pipeline is not ready until it moves again.
   * Default 60,000 ms; 0 disables.
   */
  stallAfterMs?: number;
  /**
   * Partitions of an assignment restored from checkpoints at once, 1..64
   * (default 1). Each partition is processed as soon as its own recovery is
   * done, while the others still restore; the pipeline is ready once every
   * assigned partition has recovered. A restore's writes run on the main
   * thread (one LMDB writer), so with local checkpoints more than 1 does not
   * make the whole faster and delays the first partition's hand-off
   * (docs/BENCHMARKS.md, "Restore"); it can help where reading a segment is
   * slower than writing it (remote storage far away).
   */
  restoreConcurrency?: number;
}

/** Options with defaults applied (internal). */
export interface ResolvedPipelineOptions {
  commitRecords: number;
  commitMs: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  onFailure: 'fail' | 'skip';
  deadLetter: ((record: SourceRecord, error: Error) => void | Promise<void>) | undefined;
  handleSignals: boolean;
  emptyStateStart: 'earliest' | 'source';
  onGap: 'fail' | 'accept';
  stallAfterMs: number;
  restoreConcurrency: number;
}

const KNOWN = [
  'source',
  'store',
  'handler',
  'checkpoints',
  'commitInterval',
  'errors',
  'observers',
  'handleSignals',
  'emptyStateStart',
  'onGap',
  'stallAfterMs',
  'restoreConcurrency',
];

/** Validates pipeline options; throws {@link ConfigError} naming the bad field. */
export function resolvePipelineOptions(o: PipelineOptions): ResolvedPipelineOptions {
  checkOptions(o, 'pipeline', KNOWN);
  if (typeof o.source?.start !== 'function')
    throw new ConfigError('"source" must be a Source (KafkaSource or InProcessSource)');
  if (typeof o.store?.commit !== 'function') throw new ConfigError('"store" must be an open StateStore');
  if (typeof o.handler !== 'function') throw new ConfigError('"handler" must be a function (message, state, context)');
  if (o.checkpoints !== undefined && typeof o.checkpoints.repository?.write !== 'function') {
    throw new ConfigError('"checkpoints.repository" must be a CheckpointRepository');
  }
  const e = o.errors ?? {};
  const onFailure = e.onFailure ?? 'fail';
  if (onFailure !== 'fail' && onFailure !== 'skip')
    throw new ConfigError(`"errors.onFailure" must be 'fail' or 'skip', got ${String(onFailure)}`);
  if (onFailure === 'skip' && typeof e.deadLetter !== 'function') {
    throw new ConfigError(
      '"errors.onFailure": \'skip\' needs "errors.deadLetter": a poison record is never dropped silently',
    );
  }
  return {
    commitRecords: intOption('commitInterval.records', o.commitInterval?.records, { min: 1, default: 50_000 }),
    commitMs: intOption('commitInterval.ms', o.commitInterval?.ms, { min: 1, default: 1000 }),
    retries: intOption('errors.retries', e.retries, { min: 0, default: 3 }),
    backoffMs: intOption('errors.backoffMs', e.backoffMs, { min: 0, default: 100 }),
    maxBackoffMs: intOption('errors.maxBackoffMs', e.maxBackoffMs, { min: 0, default: 5000 }),
    onFailure,
    deadLetter: e.deadLetter,
    handleSignals: booleanOption('handleSignals', o.handleSignals, false),
    emptyStateStart: oneOfOption('emptyStateStart', o.emptyStateStart, ['earliest', 'source'] as const, 'earliest'),
    onGap: oneOfOption('onGap', o.onGap, ['fail', 'accept'] as const, 'fail'),
    stallAfterMs: intOption('stallAfterMs', o.stallAfterMs, { min: 0, default: 60_000 }),
    restoreConcurrency: intOption('restoreConcurrency', o.restoreConcurrency, { min: 1, max: 64, default: 1 }),
  };
}
