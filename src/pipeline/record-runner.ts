import { setTimeout as sleep } from 'node:timers/promises';
import { NondeterministicHandlerError } from '../errors/nondeterministic-handler-error.js';
import type { StateStore } from '../state/state-store.js';
import { formatTopicPartition } from '../util/topic-partition.js';
import { notify, type PipelineObserver } from './observer.js';
import type { RecordHandler, ResolvedPipelineOptions } from './pipeline-options.js';
import type { PartitionProgress } from './progress.js';
import type { BatchControl, SourceRecord } from './source.js';

/** The handler kept failing on a record and the error policy is 'fail'. */
export interface RecordFailure {
  readonly attempts: number;
  readonly error: Error;
}

/**
 * How one record went: applied (or dead-lettered), 'stopped' (the pipeline
 * stopped during a retry backoff: the partition's next offset is the
 * record's), or a failure for the error policy 'fail'.
 */
export type RecordOutcome = 'applied' | 'stopped' | RecordFailure;

/** What the runner sees of the pipeline. */
export interface RecordRunnerContext {
  /** False once the pipeline stops: a retry backoff ends early. */
  active(): boolean;
}

type Policy = Pick<ResolvedPipelineOptions, 'retries' | 'backoffMs' | 'maxBackoffMs' | 'onFailure' | 'deadLetter'>;

/**
 * Applies records to their partition's state with the error policy
 * (internal): on a failure, rolls the partition back to its last commit,
 * replays the records since, retries with backoff, then dead-letters the
 * record or reports the failure.
 */
export class RecordRunner {
  constructor(
    private readonly handler: RecordHandler,
    private readonly store: StateStore,
    private readonly policy: Policy,
    private readonly observers: readonly PipelineObserver[],
    private readonly ctx: RecordRunnerContext,
  ) {}

  /**
   * A synchronous handler that succeeds gets its outcome back synchronously
   * (no promise, no microtask per record: the pipeline's hot path); one
   * that returns a promise, or throws, gets a promise.
   */
  apply(p: PartitionProgress, record: SourceRecord, control: BatchControl): RecordOutcome | Promise<RecordOutcome> {
    let r: unknown;
    try {
      r = this.handler(record, p.state!, record);
    } catch (err) {
      return this.recover(p, record, control, err);
    }
    if (r === undefined) {
      p.applied(record);
      return 'applied';
    }
    return this.settle(p, record, control, r);
  }

  private async settle(
    p: PartitionProgress,
    record: SourceRecord,
    control: BatchControl,
    pending: unknown,
  ): Promise<RecordOutcome> {
    try {
      await pending;
    } catch (err) {
      return this.recover(p, record, control, err);
    }
    p.applied(record);
    return 'applied';
  }

  // The handler threw: roll back, retry with backoff, then apply the policy.
  private async recover(
    p: PartitionProgress,
    record: SourceRecord,
    control: BatchControl,
    first: unknown,
  ): Promise<RecordOutcome> {
    let error = asError(first);
    for (let attempt = 1; ; attempt++) {
      notify(this.observers, 'handlerFailed', record, error, attempt);
      // The failed attempt may have changed the state halfway: go back to
      // the last commit and replay the records applied since.
      await this.rollBack(p);
      if (attempt > this.policy.retries) break;
      const wait = Math.min(this.policy.maxBackoffMs, this.policy.backoffMs * 2 ** (attempt - 1));
      await this.backoff(wait, control);
      if (!this.ctx.active()) {
        // Stopping in the backoff: the rollback replayed every record before
        // this one, so the state is at this record's offset. Say so, or the
        // stop's commit (or any other partition's: a commit writes every
        // changed key) would store those records with an older offset.
        p.next = BigInt(record.offset);
        return 'stopped';
      }
      try {
        await this.handler(record, p.state!, record);
        p.applied(record);
        return 'applied';
      } catch (err) {
        error = asError(err);
      }
    }
    if (this.policy.onFailure === 'skip') {
      await this.policy.deadLetter!(record, error);
      p.deadLettered(record);
      notify(this.observers, 'deadLettered', record, error);
      return 'applied';
    }
    return { attempts: this.policy.retries + 1, error };
  }

  private async rollBack(p: PartitionProgress): Promise<void> {
    this.store.release(p.tp.topic, p.tp.partition, { discard: true });
    p.state = this.store.partition(p.tp.topic, p.tp.partition);
    for (const record of p.replay()) {
      try {
        await this.handler(record, p.state, record);
      } catch (err) {
        throw new NondeterministicHandlerError(
          `replaying ${formatTopicPartition(p.tp)} offset ${record.offset} after a rollback failed, though it succeeded before: ` +
            `the handler must be deterministic in the state it writes: ${asError(err).message}`,
          { cause: err },
        );
      }
    }
  }

  private async backoff(ms: number, control: BatchControl): Promise<void> {
    const until = performance.now() + ms;
    while (this.ctx.active()) {
      const left = until - performance.now();
      if (left <= 0) break;
      await sleep(Math.min(left, 1000));
      await heartbeat(control);
    }
  }
}

/** False when the source says the membership is lost. */
export async function heartbeat(control: BatchControl): Promise<boolean> {
  try {
    await control.heartbeat();
    return true;
  } catch {
    return false;
  }
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
