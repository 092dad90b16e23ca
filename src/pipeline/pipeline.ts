import PQueue from 'p-queue';
import { CheckpointCoordinator } from '../checkpoint/coordinator.js';
import type { CheckpointInfo, CheckpointRepository } from '../checkpoint/repository.js';
import { HandlerFailedError } from '../errors/handler-failed-error.js';
import { PipelineStateError } from '../errors/pipeline-state-error.js';
import type { StateStore } from '../state/state-store.js';
import {
  formatTopicPartition,
  compareTopicPartitions,
  type PartitionOffset,
  type TopicPartition,
} from '../util/topic-partition.js';
import { CommitPoint } from './commit-point.js';
import { Lifecycle } from './lifecycle.js';
import { acceptGap, logStarts } from './log-start.js';
import { notify, type PipelineObserver, type RecoveryReport } from './observer.js';
import { resolvePipelineOptions, type PipelineOptions, type ResolvedPipelineOptions } from './pipeline-options.js';
import { type PartitionProgress, Progress } from './progress.js';
import { asError, heartbeat, RecordRunner } from './record-runner.js';
import { recoverPartition } from './recovery.js';
import { RecoveryCancelled, RecoveryScheduler } from './recovery-scheduler.js';
import { installSignalHandlers } from './signals.js';
import type { BatchControl, Source, SourceBatch, SourceListener, SourceRecord } from './source.js';
import { StallWatchdog } from './stall-watchdog.js';

/**
 * Runs a handler over a source's records with durable, exactly-once state:
 * each partition's state and next offset are committed together at commit
 * points, then the offsets are committed to the source (Kafka group); on
 * every assignment each partition is recovered (local state, else the best
 * checkpoint, else empty) and the source is positioned at the state's offset.
 */
export class Pipeline {
  private readonly opts: ResolvedPipelineOptions;
  private readonly source: Source;
  private readonly store: StateStore;
  private readonly repository: CheckpointRepository | undefined;
  private readonly coordinator: CheckpointCoordinator | undefined;
  private readonly observers: PipelineObserver[];
  private readonly progress: Progress;
  private readonly commits: CommitPoint;
  private readonly runner: RecordRunner;
  private readonly watchdog: StallWatchdog;
  // One thing at a time: batches, commits, rebalances and stopping never interleave.
  // Partition restores run outside it (recovery-scheduler.ts).
  private readonly lock = new PQueue({ concurrency: 1 });
  private readonly recoveries: RecoveryScheduler;
  private readonly lifecycle = new Lifecycle();
  private commitTimer: NodeJS.Timeout | undefined;
  private assignedOnce = false;
  private wasReady = false;
  private shutdownDone: Promise<void> | undefined;
  private failure: Error | undefined;
  private removeSignalHandlers: () => void = () => undefined;
  private settle!: (error: Error | undefined) => void;

  /** Settles when the pipeline has stopped: resolves after a graceful stop, rejects with the error that stopped it. */
  readonly done: Promise<void>;

  constructor(options: PipelineOptions) {
    this.opts = resolvePipelineOptions(options);
    this.source = options.source;
    this.store = options.store;
    this.observers = [...(options.observers ?? [])];
    this.progress = new Progress(this.opts.commitRecords, this.opts.commitMs);
    this.recoveries = new RecoveryScheduler(this.opts.restoreConcurrency);
    this.commits = new CommitPoint(this.progress, this.store, this.source, this.observers);
    const active = (): boolean => this.lifecycle.active;
    this.runner = new RecordRunner(options.handler, this.store, this.opts, this.observers, { active });
    this.watchdog = new StallWatchdog(this.opts.stallAfterMs, {
      active,
      partitions: () => this.progress.partitions(),
      owns: (p) => this.progress.owns(p),
      logEndOffsets: (tps) => this.source.logEndOffsets(tps),
      changed: (stalled) => {
        notify(this.observers, 'stalled', stalled);
        this.updateReadiness();
      },
    });
    this.repository = options.checkpoints?.repository;
    if (this.repository !== undefined) {
      this.coordinator = new CheckpointCoordinator(this.store, this.repository, {
        ...(options.checkpoints?.coordinator ?? {}),
        finalCheckpoint: false,
        // Owned and recovered only: a partition still recovering holds stale local state (issue 8, item 5).
        partitions: () => this.progress.recovered(),
      });
    }
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.done.catch(() => undefined); // the caller may never look
  }

  /** Starts the source; partitions are recovered as they are assigned. */
  async start(): Promise<void> {
    if (this.lifecycle.state !== 'created')
      throw new PipelineStateError(`pipeline cannot start: it is ${this.lifecycle.state}`);
    this.lifecycle.to('starting');
    if (this.opts.handleSignals) this.removeSignalHandlers = installSignalHandlers(() => this.stop());
    this.commitTimer = setInterval(
      () => {
        if (this.lifecycle.active && this.progress.dueByTimer()) this.locked(() => this.commits.commit());
      },
      Math.max(10, Math.floor(this.opts.commitMs / 2)),
    );
    this.commitTimer.unref();
    this.watchdog.start();
    this.coordinator?.start();
    try {
      await this.source.start(this.listener());
    } catch (err) {
      this.fail(err);
      throw err;
    }
    this.lifecycle.tryTo('running'); // unless a stop or a failure came first
  }

  /**
   * True once every assigned partition has recovered (and at least one
   * assignment happened), while none is stalled (`stallAfterMs`).
   */
  get ready(): boolean {
    return this.lifecycle.active && this.assignedOnce && !this.watchdog.any && !this.progress.anyRecovering();
  }

  /** Partitions currently owned, recovered or not. */
  assignment(): TopicPartition[] {
    return [...this.progress.partitions()].map((p) => p.tp).sort(compareTopicPartitions);
  }

  /** Next offset of each owned partition, as processed (committed or not). */
  positions(): PartitionOffset[] {
    return [...this.progress.partitions()]
      .filter((p) => p.next !== undefined)
      .map((p) => ({ topic: p.tp.topic, partition: p.tp.partition, offset: String(p.next) }));
  }

  /** The state store the pipeline runs on (it closes it when it stops). */
  get stateStore(): StateStore {
    return this.store;
  }

  /** The checkpoint coordinator, when checkpoints are configured. */
  get checkpoints(): CheckpointCoordinator | undefined {
    return this.coordinator;
  }

  /** Adds an observer (metrics, logging). */
  observe(observer: PipelineObserver): void {
    this.observers.push(observer);
  }

  /**
   * Graceful stop: finishes the record in flight, commits state and offsets,
   * stops the source, writes a final checkpoint of the owned partitions and
   * closes the store. Idempotent.
   */
  stop(): Promise<void> {
    return this.beginShutdown(true);
  }

  /**
   * Stops as a crash would: no commit, no checkpoint; uncommitted state is
   * lost with its offsets. For demos and tests of recovery.
   */
  abort(): Promise<void> {
    return this.beginShutdown(false);
  }

  // Runs a task under the lock; an error in it fails the pipeline (after the
  // task released the lock: fail() never waits on it).
  private locked<T>(task: () => Promise<T>): Promise<T | undefined> {
    return this.lock.add(task).catch((err: unknown) => {
      this.fail(err);
      return undefined;
    });
  }

  private listener(): SourceListener {
    return {
      assigned: (tps) => this.onAssigned(tps),
      revoked: async (tps) => {
        await this.locked(() => this.onRevoked(tps));
      },
      retained: async (tps) => {
        await this.locked(() => this.onRetained(tps));
      },
      batch: async (batch, control) => {
        await this.locked(() => this.onBatch(batch, control));
      },
      failed: (error) => this.fail(error),
      waiting: (reason) => notify(this.observers, 'waiting', reason),
    };
  }

  // An assignment: the new partitions are recovered concurrently (at most
  // `restoreConcurrency` at once), outside the lock, so batches of the
  // partitions already recovered go on meanwhile; each is handed to
  // processing as soon as its own recovery is done. Resolves once every one
  // has recovered (or was cancelled: revoked, or the pipeline stopping).
  private async onAssigned(tps: readonly TopicPartition[]): Promise<void> {
    const added = await this.locked(async () => this.beginAssignment(tps));
    if (added === undefined || added.length === 0) return;
    let listing: CheckpointInfo[] = [];
    if (this.repository !== undefined) {
      try {
        listing = await this.repository.list();
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    await Promise.all(added.map((p) => this.recover(p, listing)));
  }

  private beginAssignment(tps: readonly TopicPartition[]): PartitionProgress[] {
    if (!this.lifecycle.active) return [];
    const added = tps.map((tp) => this.progress.add(tp));
    this.assignedOnce = true;
    this.updateReadiness();
    if (tps.length > 0) notify(this.observers, 'rebalanced', { assigned: [...tps], revoked: [] });
    return added;
  }

  private async recover(p: PartitionProgress, listing: readonly CheckpointInfo[]): Promise<void> {
    // Checked in the same turn as the recovery is registered: a stop that
    // begins later cancels it.
    if (!this.lifecycle.active || !this.progress.owns(p)) return;
    let report: RecoveryReport;
    try {
      report = await this.recoveries.run(p.tp, (signal) =>
        recoverPartition(this.store, this.repository, listing, p.tp, signal),
      );
    } catch (err) {
      // Cancelled: revoked meanwhile, or the pipeline is stopping.
      if (err instanceof RecoveryCancelled || !this.progress.owns(p) || !this.lifecycle.active) return;
      this.fail(err);
      return;
    }
    await this.locked(() => this.recovered(p, report));
  }

  // A partition's recovery is done: position the source at its state's
  // offset and hand it to processing.
  private async recovered(p: PartitionProgress, report: RecoveryReport): Promise<void> {
    if (!this.lifecycle.active || !this.progress.owns(p)) return;
    const tp = p.tp;
    // Asked after the recovery, which can take long, so the log start is current.
    const logStart = (await logStarts(this.source, [tp])).get(formatTopicPartition(tp))!;
    if (!this.lifecycle.active || !this.progress.owns(p)) return;
    p.recovered(
      this.store.partition(tp.topic, tp.partition),
      report.offset === undefined ? undefined : BigInt(report.offset),
    );
    if (p.next !== undefined) {
      if (p.next < logStart) notify(this.observers, 'gap', acceptGap(p, logStart, this.opts.onGap)); // throws unless accepted
      this.source.seek(tp, String(p.next));
    } else if (this.opts.emptyStateStart === 'earliest') {
      // The log's actual start: a seek to 'earliest' is resolved by the
      // source's own reset policy (kafkajs: fromBeginning) when out of range.
      p.next = logStart;
      this.source.seek(tp, String(logStart));
    }
    p.resume();
    notify(this.observers, 'recovered', report);
    // The group's offset may be behind the recovered state: a crash can
    // lose the source commits that follow a durable commit, and a partition
    // already at the end of its log commits nothing more. Without this the
    // group's committed offset (and every lag tool) would stay behind for
    // as long as no record arrives. (No state to commit: only the source.)
    if (p.committed !== undefined)
      this.commits.toSource([{ topic: tp.topic, partition: tp.partition, offset: String(p.committed) }]);
    // Its records may flow now, while other partitions still restore.
    this.source.ready?.(tp);
    this.updateReadiness();
  }

  private async onRevoked(tps: readonly TopicPartition[]): Promise<void> {
    const mine = tps.filter((tp) => this.progress.get(tp) !== undefined);
    if (mine.length === 0) return;
    // A restore in flight is abandoned: nothing of it is swapped in.
    this.recoveries.cancel(mine.filter((tp) => this.progress.get(tp)!.recovering));
    if (this.lifecycle.active || this.lifecycle.state === 'stopping') {
      await this.commits.commit();
      // Hand over: the next owner restores from this checkpoint (a partition
      // still recovering has nothing of its own to hand over).
      const handed = mine.filter((tp) => !this.progress.get(tp)!.recovering);
      if (this.coordinator !== undefined && handed.length > 0) {
        await this.coordinator.checkpoint({ partitions: handed, trigger: 'revoke' }).catch(() => undefined);
      }
    }
    const unstalled = this.watchdog.forget(mine);
    for (const tp of mine) {
      this.progress.remove(tp);
      if (!this.store.closed) this.store.release(tp.topic, tp.partition, { discard: true });
    }
    if (unstalled) notify(this.observers, 'stalled', this.watchdog.list());
    notify(this.observers, 'rebalanced', { assigned: [], revoked: mine });
    this.updateReadiness();
  }

  // Partitions kept across a rebalance: the source may have lost its place.
  private async onRetained(tps: readonly TopicPartition[]): Promise<void> {
    // A rejoin that completes during a stop: nothing is consumed any more.
    if (!this.lifecycle.active) return;
    const kept = tps.filter((tp) => this.progress.get(tp)?.recovering === false);
    const starts = kept.some((tp) => this.progress.get(tp)!.next === undefined)
      ? await logStarts(this.source, kept)
      : undefined;
    for (const tp of kept) {
      const p = this.progress.get(tp)!;
      if (p.next !== undefined) this.source.seek(tp, String(p.next));
      else if (this.opts.emptyStateStart === 'earliest')
        this.source.seek(tp, String(starts!.get(formatTopicPartition(tp))!));
    }
  }

  private async onBatch(batch: SourceBatch, control: BatchControl): Promise<void> {
    const p = this.progress.get(batch);
    const records = batch.records;
    if (p === undefined || p.recovering || !this.lifecycle.active || records.length === 0) return;
    const started = performance.now();
    p.activeAt = started;
    // The source jumped past the next offset: compaction, transaction
    // markers, or records deleted under us (a broker's out-of-range reset).
    if (p.next !== undefined && BigInt(records[0]!.offset) > p.next) {
      const logStart = (await logStarts(this.source, [p.tp])).get(formatTopicPartition(p.tp))!;
      if (p.next < logStart) {
        notify(this.observers, 'gap', acceptGap(p, logStart, this.opts.onGap)); // throws unless accepted
        if (BigInt(records[0]!.offset) !== logStart) {
          this.source.seek(p.tp, String(logStart)); // resume at the log start, not wherever the reset went
          return;
        }
      }
    }
    let i = 0;
    // Records already in the state (the source repositioned behind us): skip.
    if (p.next !== undefined) while (i < records.length && BigInt(records[i]!.offset) < p.next) i++;
    let last: SourceRecord | undefined = i > 0 ? records[i - 1] : undefined;
    let applied = 0;
    for (; i < records.length; i++) {
      // Stop, revocation or a seek: checked every few records, it is not free.
      if ((applied & 15) === 0 && (!this.lifecycle.active || !control.isActive())) break;
      const record = records[i]!;
      let outcome = this.runner.apply(p, record, control);
      if (outcome instanceof Promise) outcome = await outcome;
      if (outcome !== 'applied') {
        if (outcome !== 'stopped') {
          // Everything before this record is in the state: commit up to it,
          // then fail (the shutdown waits for this batch to return).
          p.next = BigInt(record.offset);
          await this.commits.commit();
          this.fail(new HandlerFailedError(record, outcome.attempts, outcome.error));
        }
        if (last !== undefined) control.resolve(last.offset);
        if (applied > 0) notify(this.observers, 'batchProcessed', p.tp, applied, performance.now() - started);
        return;
      }
      last = record;
      applied++;
      if (this.progress.countApplied() || ((applied & 63) === 0 && this.progress.dueByTime())) {
        p.next = BigInt(record.offset) + 1n;
        await this.commits.commit();
      }
      if ((applied & 255) === 0 && !(await heartbeat(control))) break; // a rebalance began
    }
    if (last !== undefined) {
      p.next = BigInt(last.offset) + 1n;
      control.resolve(last.offset);
    }
    p.activeAt = performance.now();
    if (applied > 0) notify(this.observers, 'batchProcessed', p.tp, applied, performance.now() - started);
    if (applied > 0 && this.watchdog.forget([p.tp])) {
      notify(this.observers, 'stalled', this.watchdog.list());
      this.updateReadiness();
    }
    if (batch.highWatermark !== undefined && p.next !== undefined) {
      const lag = BigInt(batch.highWatermark) - p.next;
      notify(this.observers, 'lag', p.tp, Number(lag > 0n ? lag : 0n));
    }
    if (this.progress.dueByTime()) await this.commits.commit();
  }

  // Records the first error and starts the shutdown; never waits for it (it
  // may be called under the lock, which the shutdown waits for).
  private fail(err: unknown): void {
    if (this.failure !== undefined || !this.lifecycle.tryTo('failing')) return;
    this.failure = asError(err);
    notify(this.observers, 'failed', this.failure);
    this.beginShutdown(false).catch(() => undefined);
  }

  private beginShutdown(graceful: boolean): Promise<void> {
    if (this.shutdownDone !== undefined) return this.shutdownDone;
    const wasActive = this.lifecycle.active;
    if (this.lifecycle.state !== 'failing') this.lifecycle.to('stopping');
    this.shutdownDone = this.shutdown(graceful && wasActive);
    return this.shutdownDone;
  }

  private async shutdown(graceful: boolean): Promise<void> {
    // Restores in flight are abandoned (their partitions never processed a record).
    this.recoveries.cancelAll();
    this.removeSignalHandlers();
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    this.watchdog.stop();
    this.updateReadiness();
    const errors: unknown[] = [];
    const attempt = async (what: () => Promise<unknown>): Promise<void> => {
      try {
        await what();
      } catch (err) {
        errors.push(err);
      }
    };
    if (graceful) {
      // Commit while the source can still take the offsets, and checkpoint
      // before leaving the group, so the next owner of these partitions
      // finds this state in the checkpoints.
      await attempt(() => this.lock.add(() => this.commits.commit()));
      if (this.coordinator !== undefined) {
        const final = this.progress.recovered().sort(compareTopicPartitions);
        await attempt(() => this.coordinator!.stop());
        if (final.length > 0) await attempt(() => this.coordinator!.checkpoint({ partitions: final, trigger: 'stop' }));
      }
    } else {
      // Not under a task in flight (fail() is called under the lock): wait
      // for it to return before stopping the source under it.
      await attempt(() => this.lock.add(async () => undefined));
    }
    await attempt(() => this.commits.drained());
    await attempt(() => this.source.stop());
    await attempt(() => this.lock.onIdle());
    if (!graceful) await attempt(() => this.coordinator?.stop() ?? Promise.resolve());
    await attempt(() => this.recoveries.settled());
    await attempt(() => this.store.close());
    const error = this.failure ?? (errors.length > 0 ? asError(errors[0]) : undefined);
    this.lifecycle.to(this.lifecycle.state === 'failing' ? 'failed' : 'stopped');
    this.settle(error);
    if (error !== undefined && this.failure === undefined) throw error;
  }

  private updateReadiness(): void {
    const ready = this.ready;
    if (ready !== this.wasReady) {
      this.wasReady = ready;
      notify(this.observers, 'readinessChanged', ready);
    }
  }
}
