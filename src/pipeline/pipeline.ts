import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { CheckpointCoordinator } from '../checkpoint/coordinator.js';
import type { CheckpointRepository } from '../checkpoint/repository.js';
import { HandlerFailedError } from '../errors/handler-failed-error.js';
import { OffsetGapError } from '../errors/offset-gap-error.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import type { PartitionState } from '../state/partition-state.js';
import type { StateStore } from '../state/state-store.js';
import {
  compareTopicPartitions,
  formatTopicPartition,
  type PartitionOffset,
  type TopicPartition,
} from '../util/topic-partition.js';
import { notify, type PipelineObserver, type RecoveryReport, type StalledPartition } from './observer.js';
import {
  resolvePipelineOptions,
  type PipelineOptions,
  type RecordHandler,
  type ResolvedPipelineOptions,
} from './pipeline-options.js';
import { recoverPartition } from './recovery.js';
import type { BatchControl, Source, SourceBatch, SourceListener, SourceRecord } from './source.js';

interface Progress {
  readonly tp: TopicPartition;
  state: PartitionState | undefined;
  /** Next offset to process; undefined until known (empty state starts wherever the source is). */
  next: bigint | undefined;
  /** Next offset as of the last durable commit. */
  committed: bigint | undefined;
  /** Records applied (or dead-lettered) since the last commit, replayed after a rollback. */
  sinceCommit: SourceRecord[];
  /** Those of `sinceCommit` that were dead-lettered: skipped on replay. */
  skipped: Set<SourceRecord>;
  recovering: boolean;
  /** When a batch of it last started or ended, or it recovered (performance.now()). */
  activeAt: number;
}

type Phase = 'created' | 'running' | 'stopping' | 'stopped' | 'failed';

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
  private readonly handler: RecordHandler;
  private readonly repository: CheckpointRepository | undefined;
  private readonly coordinator: CheckpointCoordinator | undefined;
  private readonly observers: PipelineObserver[];
  private readonly owned = new Map<string, Progress>();
  // One thing at a time: batches, commits, rebalances and stopping never interleave.
  private readonly lock = new PQueue({ concurrency: 1 });
  private phase: Phase = 'created';
  private recordsSinceCommit = 0;
  private lastCommitAt = performance.now();
  private commitTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private watching = false;
  private readonly stalled = new Map<string, StalledPartition>();
  private assignedOnce = false;
  private wasReady = false;
  private stopping: Promise<void> | undefined;
  private sourceCommits: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  /** Settles when the pipeline has stopped: resolves after a graceful stop, rejects with the error that stopped it. */
  readonly done: Promise<void>;

  constructor(options: PipelineOptions) {
    this.opts = resolvePipelineOptions(options);
    this.source = options.source;
    this.store = options.store;
    this.handler = options.handler;
    this.observers = [...(options.observers ?? [])];
    this.repository = options.checkpoints?.repository;
    if (this.repository !== undefined) {
      this.coordinator = new CheckpointCoordinator(this.store, this.repository, {
        ...(options.checkpoints?.coordinator ?? {}),
        finalCheckpoint: false,
        // Owned and recovered only: a partition still recovering holds stale local state (issue 8, item 5).
        partitions: () => [...this.owned.values()].filter((p) => !p.recovering).map((p) => p.tp),
      });
    }
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // the caller may never look
  }

  /** Starts the source; partitions are recovered as they are assigned. */
  async start(): Promise<void> {
    if (this.phase !== 'created')
      throw new TidemarkError('ERR_TIDEMARK_PIPELINE_STATE', `pipeline cannot start: it is ${this.phase}`);
    this.phase = 'running';
    if (this.opts.handleSignals) {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const handler = (): void => {
          this.removeSignalHandlers();
          void this.stop()
            .catch(() => undefined)
            .finally(() => process.kill(process.pid, signal));
        };
        process.once(signal, handler);
        this.signalHandlers.push([signal, handler]);
      }
    }
    this.commitTimer = setInterval(
      () => {
        if (
          this.phase === 'running' &&
          this.recordsSinceCommit > 0 &&
          performance.now() - this.lastCommitAt >= this.opts.commitMs
        ) {
          this.lock.add(() => this.commitNow()).catch((err: unknown) => this.fail(err));
        }
      },
      Math.max(10, Math.floor(this.opts.commitMs / 2)),
    );
    this.commitTimer.unref();
    if (this.opts.stallAfterMs > 0) {
      this.watchdog = setInterval(() => void this.checkStalls(), Math.max(50, Math.floor(this.opts.stallAfterMs / 4)));
      this.watchdog.unref();
    }
    this.coordinator?.start();
    try {
      await this.source.start(this.listener());
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /**
   * True once every assigned partition has recovered (and at least one
   * assignment happened), while none is stalled (`stallAfterMs`).
   */
  get ready(): boolean {
    if (this.phase !== 'running' || !this.assignedOnce || this.stalled.size > 0) return false;
    for (const p of this.owned.values()) if (p.recovering) return false;
    return true;
  }

  /** Partitions currently owned, recovered or not. */
  assignment(): TopicPartition[] {
    return [...this.owned.values()].map((p) => p.tp).sort(compareTopicPartitions);
  }

  /** Next offset of each owned partition, as processed (committed or not). */
  positions(): PartitionOffset[] {
    return [...this.owned.values()]
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
    this.stopping ??= this.shutdown(true);
    return this.stopping;
  }

  /**
   * Stops as a crash would: no commit, no checkpoint; uncommitted state is
   * lost with its offsets. For demos and tests of recovery.
   */
  abort(): Promise<void> {
    this.stopping ??= this.shutdown(false);
    return this.stopping;
  }

  private listener(): SourceListener {
    const guarded = <T>(task: () => Promise<T>): Promise<T | undefined> =>
      this.lock.add(task).catch((err: unknown) => {
        this.fail(err);
        return undefined;
      });
    return {
      assigned: async (tps) => {
        await guarded(() => this.onAssigned(tps));
      },
      revoked: async (tps) => {
        await guarded(() => this.onRevoked(tps));
      },
      retained: async (tps) => {
        await guarded(async () => {
          // A rejoin that completes during a stop: nothing is consumed any more.
          if (this.phase !== 'running') return;
          const kept = tps.filter((tp) => this.owned.get(key(tp))?.recovering === false);
          const starts = kept.some((tp) => this.owned.get(key(tp))!.next === undefined)
            ? await this.logStarts(kept)
            : undefined;
          for (const tp of kept) {
            const p = this.owned.get(key(tp))!;
            if (p.next !== undefined) this.source.seek(tp, String(p.next));
            else if (this.opts.emptyStateStart === 'earliest') this.source.seek(tp, starts!.get(key(tp))!);
          }
        });
      },
      batch: async (batch, control) => {
        await guarded(() => this.onBatch(batch, control));
      },
      failed: (error) => this.fail(error),
      waiting: (reason) => notify(this.observers, 'waiting', reason),
    };
  }

  private async onAssigned(tps: readonly TopicPartition[]): Promise<void> {
    if (this.phase !== 'running') return;
    for (const tp of tps) {
      this.owned.set(key(tp), {
        tp,
        state: undefined,
        next: undefined,
        committed: undefined,
        sinceCommit: [],
        skipped: new Set(),
        recovering: true,
        activeAt: performance.now(),
      });
    }
    this.assignedOnce = true;
    this.updateReadiness();
    if (tps.length === 0) return;
    notify(this.observers, 'rebalanced', { assigned: [...tps], revoked: [] });
    const listing = this.repository === undefined ? [] : await this.repository.list();
    const reports: RecoveryReport[] = [];
    for (const tp of tps) reports.push(await recoverPartition(this.store, this.repository, listing, tp));
    // Asked after the recoveries, which can take long, so the log starts are current.
    const starts = await this.logStarts(tps);
    for (const report of reports) {
      const p = this.owned.get(key(report));
      if (p === undefined) continue;
      const tp = p.tp;
      p.state = this.store.partition(tp.topic, tp.partition);
      p.next = report.offset === undefined ? undefined : BigInt(report.offset);
      p.committed = p.next;
      const logStart = BigInt(starts.get(key(tp))!);
      if (p.next !== undefined) {
        if (p.next < logStart) this.gap(p, logStart); // throws unless accepted
        this.source.seek(tp, String(p.next));
      } else if (this.opts.emptyStateStart === 'earliest') {
        // The log's actual start: a seek to 'earliest' is resolved by the
        // source's own reset policy (kafkajs: fromBeginning) when out of range.
        p.next = logStart;
        this.source.seek(tp, String(logStart));
      }
      p.recovering = false;
      p.activeAt = performance.now();
      notify(this.observers, 'recovered', report);
    }
    // The group's offsets may be behind the recovered state: a crash can
    // lose the source commits that follow a durable commit, and a partition
    // already at the end of its log commits nothing more. Without this the
    // group's committed offsets (and every lag tool) would stay behind for
    // as long as no record arrives.
    const durable: PartitionOffset[] = [];
    for (const tp of tps) {
      const p = this.owned.get(key(tp));
      if (p?.committed !== undefined)
        durable.push({ topic: tp.topic, partition: tp.partition, offset: String(p.committed) });
    }
    if (durable.length > 0) this.commitToSource(durable);
    this.updateReadiness();
  }

  private async onRevoked(tps: readonly TopicPartition[]): Promise<void> {
    const mine = tps.filter((tp) => this.owned.has(key(tp)));
    if (mine.length === 0) return;
    if (this.phase === 'running' || this.phase === 'stopping') {
      await this.commitNow();
      if (this.coordinator !== undefined) {
        // Hand over: the next owner restores from this checkpoint.
        await this.coordinator
          .checkpoint({ partitions: mine.filter((tp) => !this.owned.get(key(tp))!.recovering), trigger: 'revoke' })
          .catch(() => undefined);
      }
    }
    const wasStalled = this.stalled.size;
    for (const tp of mine) {
      this.stalled.delete(key(tp));
      this.owned.delete(key(tp));
      if (!this.store.closed) this.store.release(tp.topic, tp.partition, { discard: true });
    }
    if (this.stalled.size !== wasStalled) notify(this.observers, 'stalled', [...this.stalled.values()]);
    notify(this.observers, 'rebalanced', { assigned: [], revoked: mine });
    this.updateReadiness();
  }

  private async onBatch(batch: SourceBatch, control: BatchControl): Promise<void> {
    const p = this.owned.get(key(batch));
    const records = batch.records;
    if (p === undefined || p.recovering || this.phase !== 'running' || records.length === 0) return;
    const started = performance.now();
    p.activeAt = started;
    // The source jumped past the next offset: compaction, transaction
    // markers, or records deleted under us (a broker's out-of-range reset).
    if (p.next !== undefined && BigInt(records[0]!.offset) > p.next) {
      const logStart = BigInt((await this.logStarts([p.tp])).get(key(p.tp))!);
      if (p.next < logStart) {
        this.gap(p, logStart); // throws unless accepted
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
      if ((applied & 15) === 0 && (this.phase !== 'running' || !control.isActive())) break;
      const record = records[i]!;
      if (!(await this.apply(p, record, control))) {
        if (last !== undefined) control.resolve(last.offset);
        if (applied > 0) notify(this.observers, 'batchProcessed', p.tp, applied, performance.now() - started);
        return;
      }
      last = record;
      applied++;
      if (
        ++this.recordsSinceCommit >= this.opts.commitRecords ||
        ((applied & 63) === 0 && performance.now() - this.lastCommitAt >= this.opts.commitMs)
      ) {
        p.next = BigInt(record.offset) + 1n;
        await this.commitNow();
      }
      if ((applied & 255) === 0 && !(await heartbeat(control))) break; // a rebalance began
    }
    if (last !== undefined) {
      p.next = BigInt(last.offset) + 1n;
      control.resolve(last.offset);
    }
    p.activeAt = performance.now();
    if (applied > 0) notify(this.observers, 'batchProcessed', p.tp, applied, performance.now() - started);
    if (applied > 0 && this.stalled.delete(key(p.tp))) {
      notify(this.observers, 'stalled', [...this.stalled.values()]);
      this.updateReadiness();
    }
    if (batch.highWatermark !== undefined && p.next !== undefined) {
      const lag = BigInt(batch.highWatermark) - p.next;
      notify(this.observers, 'lag', p.tp, Number(lag > 0n ? lag : 0n));
    }
    if (performance.now() - this.lastCommitAt >= this.opts.commitMs) await this.commitNow();
  }

  // The stall watchdog: a recovered partition with records waiting and no
  // batch for stallAfterMs cannot make progress (left paused, a fetch or a
  // handler that never returns...): say so, and be not ready, until it moves.
  private async checkStalls(): Promise<void> {
    if (this.phase !== 'running' || this.watching) return;
    this.watching = true;
    try {
      const now = performance.now();
      const idle = [...this.owned.values()].filter((p) => !p.recovering && now - p.activeAt >= this.opts.stallAfterMs);
      const found = new Map<string, StalledPartition>();
      if (idle.length > 0) {
        const ends = new Map(
          (await this.source.logEndOffsets(idle.map((p) => p.tp))).map((o) => [key(o), BigInt(o.offset)]),
        );
        for (const p of idle) {
          const end = ends.get(key(p.tp));
          if (
            end === undefined ||
            end <= (p.next ?? 0n) ||
            this.owned.get(key(p.tp)) !== p ||
            now - p.activeAt < this.opts.stallAfterMs
          )
            continue;
          found.set(key(p.tp), {
            topic: p.tp.topic,
            partition: p.tp.partition,
            next: p.next === undefined ? undefined : String(p.next),
            logEnd: String(end),
            idleMs: Math.round(performance.now() - p.activeAt),
          });
        }
      }
      const same = found.size === this.stalled.size && [...found.keys()].every((k) => this.stalled.has(k));
      if (same || this.phase !== 'running') return;
      this.stalled.clear();
      for (const [k, v] of found) this.stalled.set(k, v);
      notify(this.observers, 'stalled', [...found.values()]);
      this.updateReadiness();
    } catch {
      // The source could not answer (a broker away): the next check asks again.
    } finally {
      this.watching = false;
    }
  }

  // A partition's state is below its log's start. Throws OffsetGapError
  // (the pipeline fails) unless gaps are accepted; then the partition
  // resumes at the log start without the deleted records.
  private gap(p: Progress, logStart: bigint): void {
    const offset = p.next!;
    if (this.opts.onGap !== 'accept')
      throw new OffsetGapError(p.tp.topic, p.tp.partition, String(offset), String(logStart));
    p.next = logStart;
    notify(this.observers, 'gap', {
      topic: p.tp.topic,
      partition: p.tp.partition,
      offset: String(offset),
      logStart: String(logStart),
      records: Number(logStart - offset),
    });
  }

  private async logStarts(tps: readonly TopicPartition[]): Promise<Map<string, string>> {
    const got = await this.source.logStartOffsets(tps);
    const out = new Map(got.map((o) => [key(o), o.offset]));
    for (const tp of tps) {
      if (!out.has(key(tp)))
        throw new TidemarkError(
          'ERR_TIDEMARK_SOURCE',
          `the source gave no log start offset for ${formatTopicPartition(tp)}`,
        );
    }
    return out;
  }

  // Applies one record with retries; false when the pipeline is failing.
  private async apply(p: Progress, record: SourceRecord, control: BatchControl): Promise<boolean> {
    try {
      const r = this.handler(record, p.state!, record);
      if (r !== undefined) await r; // a sync handler costs no microtask
      p.sinceCommit.push(record);
      return true;
    } catch (err) {
      return this.recover(p, record, control, err);
    }
  }

  // The handler threw: roll back, retry with backoff, then apply the policy.
  private async recover(p: Progress, record: SourceRecord, control: BatchControl, first: unknown): Promise<boolean> {
    let error = asError(first);
    for (let attempt = 1; ; attempt++) {
      notify(this.observers, 'handlerFailed', record, error, attempt);
      // The failed attempt may have changed the state halfway: go back to
      // the last commit and replay the records applied since.
      await this.rollBack(p);
      if (attempt > this.opts.retries) break;
      const wait = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** (attempt - 1));
      await this.backoff(wait, control);
      if (this.phase !== 'running') {
        // Stopping in the backoff: the rollback replayed every record before
        // this one, so the state is at this record's offset. Say so, or the
        // stop's commit (or any other partition's: a commit writes every
        // changed key) would store those records with an older offset.
        p.next = BigInt(record.offset);
        return false;
      }
      try {
        await this.handler(record, p.state!, record);
        p.sinceCommit.push(record);
        return true;
      } catch (err) {
        error = asError(err);
      }
    }
    const attempts = this.opts.retries + 1;
    if (this.opts.onFailure === 'skip') {
      await this.opts.deadLetter!(record, error);
      p.sinceCommit.push(record);
      p.skipped.add(record);
      notify(this.observers, 'deadLettered', record, error);
      return true;
    }
    // Everything before this record is in the state: commit up to it.
    p.next = BigInt(record.offset);
    await this.commitNow();
    this.fail(new HandlerFailedError(record, attempts, error));
    return false;
  }

  private async rollBack(p: Progress): Promise<void> {
    this.store.release(p.tp.topic, p.tp.partition, { discard: true });
    p.state = this.store.partition(p.tp.topic, p.tp.partition);
    for (const record of p.sinceCommit) {
      if (p.skipped.has(record)) continue;
      try {
        await this.handler(record, p.state, record);
      } catch (err) {
        throw new TidemarkError(
          'ERR_TIDEMARK_NONDETERMINISTIC_HANDLER',
          `replaying ${formatTopicPartition(p.tp)} offset ${record.offset} after a rollback failed, though it succeeded before: ` +
            `the handler must be deterministic in the state it writes: ${asError(err).message}`,
          { cause: err },
        );
      }
    }
  }

  private async backoff(ms: number, control: BatchControl): Promise<void> {
    const until = performance.now() + ms;
    while (this.phase === 'running') {
      const left = until - performance.now();
      if (left <= 0) break;
      await sleep(Math.min(left, 1000));
      await heartbeat(control);
    }
  }

  // Invariants 1 and 2: state and next offsets in one durable transaction,
  // then the same offsets to the source. The source commit is not awaited
  // here (a broker round trip per commit would halve throughput); commits to
  // the source are chained so they land in order.
  private async commitNow(): Promise<void> {
    const offsets: PartitionOffset[] = [];
    const touched: Progress[] = [];
    for (const p of this.owned.values()) {
      if (p.recovering || p.next === undefined || p.next === p.committed) continue;
      offsets.push({ topic: p.tp.topic, partition: p.tp.partition, offset: String(p.next) });
      touched.push(p);
    }
    this.recordsSinceCommit = 0;
    this.lastCommitAt = performance.now();
    if (offsets.length === 0) return;
    let result: Awaited<ReturnType<StateStore['commit']>>;
    try {
      result = await this.store.commit(offsets);
    } catch (err) {
      notify(this.observers, 'commitFailed', asError(err));
      throw err;
    }
    for (const p of touched) {
      p.committed = p.next;
      p.sinceCommit = [];
      p.skipped.clear();
    }
    notify(this.observers, 'committed', {
      durationMs: result.durationMs,
      entries: result.entries,
      partitions: result.partitions,
    });
    this.commitToSource(offsets);
  }

  // Offsets of durable state to the source, in order, not awaited. The
  // state's offset is the source of truth; the group offset only matters
  // for lag and for partitions that have no state.
  private commitToSource(offsets: PartitionOffset[]): void {
    this.sourceCommits = this.sourceCommits.then(() =>
      this.source.commit(offsets).catch((err: unknown) => notify(this.observers, 'sourceCommitFailed', asError(err))),
    );
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined || this.phase === 'stopped') return;
    this.failure = asError(err);
    notify(this.observers, 'failed', this.failure);
    this.phase = 'failed';
    this.stopping ??= this.shutdown(false);
  }

  private async shutdown(graceful: boolean): Promise<void> {
    this.removeSignalHandlers();
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    const wasRunning = this.phase === 'running';
    if (this.phase === 'running') this.phase = 'stopping';
    this.updateReadiness();
    const errors: unknown[] = [];
    const attempt = async (what: () => Promise<unknown>): Promise<void> => {
      try {
        await what();
      } catch (err) {
        errors.push(err);
      }
    };
    if (graceful && wasRunning) {
      // Commit while the source can still take the offsets, and checkpoint
      // before leaving the group, so the next owner of these partitions
      // finds this state in the checkpoints.
      await attempt(() => this.lock.add(() => this.commitNow()));
      if (this.coordinator !== undefined) {
        const final = this.assignment().filter((tp) => !this.owned.get(key(tp))!.recovering);
        await attempt(() => this.coordinator!.stop());
        if (final.length > 0) await attempt(() => this.coordinator!.checkpoint({ partitions: final, trigger: 'stop' }));
      }
    }
    await attempt(() => this.sourceCommits);
    await attempt(() => this.source.stop());
    await attempt(() => this.lock.onIdle());
    if (!graceful || !wasRunning) await attempt(() => this.coordinator?.stop() ?? Promise.resolve());
    await attempt(() => this.store.close());
    const error = this.failure ?? (errors.length > 0 ? asError(errors[0]) : undefined);
    this.phase = this.failure !== undefined ? 'failed' : 'stopped';
    if (error !== undefined) {
      this.rejectDone(error);
      if (this.failure === undefined) throw error;
    } else this.resolveDone();
  }

  private removeSignalHandlers(): void {
    for (const [signal, handler] of this.signalHandlers) process.removeListener(signal, handler);
    this.signalHandlers.length = 0;
  }

  private updateReadiness(): void {
    const ready = this.ready;
    if (ready !== this.wasReady) {
      this.wasReady = ready;
      notify(this.observers, 'readinessChanged', ready);
    }
  }
}

// False when the source says the membership is lost.
async function heartbeat(control: BatchControl): Promise<boolean> {
  try {
    await control.heartbeat();
    return true;
  } catch {
    return false;
  }
}

function key(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
