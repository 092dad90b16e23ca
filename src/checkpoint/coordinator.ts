import { CheckpointTimeoutError } from '../errors/checkpoint-timeout-error.js';
import { ConfigError } from '../errors/config-error.js';
import { booleanOption, checkOptions, functionOption, intOption, numberOption } from '../util/options.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import type { StateStore } from '../state/state-store.js';
import { systemClock, type Clock } from '../util/clock.js';
import { assertTopicPartition, type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';
import { notify, type CheckpointObserver, type CheckpointTrigger } from './observer.js';
import type { CheckpointInfo, CheckpointRepository } from './repository.js';
import { resolveRetention, type ResolvedRetention, type RetentionPolicy } from './retention.js';

/** Options for {@link CheckpointCoordinator}. */
export interface CheckpointCoordinatorOptions {
  /**
   * Period of checkpoints after `start()`, start to start, in ms; default
   * 60,000. A periodic checkpoint is skipped when the store has committed
   * nothing since the last checkpoint of the same partitions.
   */
  intervalMs?: number;
  /** Least time between the end of one checkpoint and the start of the next periodic one, ms; default 5,000. */
  minPauseMs?: number;
  /** A checkpoint taking longer fails with CheckpointTimeoutError and is abandoned; ms, default 300,000. */
  timeoutMs?: number;
  /** Consecutive failures after which `healthy` turns false; default 3. */
  unhealthyAfterFailures?: number;
  /** Retention applied after each successful checkpoint; `false` disables it. Default `{ keepLast: 3 }`. */
  retention?: RetentionPolicy | false;
  /**
   * The partitions a checkpoint covers when none are named (periodic ones,
   * the final one, `checkpoint()` without `partitions`): e.g. the consumer's
   * current assignment, so state left behind by partitions it no longer owns
   * is not checkpointed again. Called as each checkpoint starts. Default:
   * every partition in the store.
   */
  partitions?: () => Iterable<TopicPartition>;
  /** Whether `stop()` writes a final checkpoint; default true. */
  finalCheckpoint?: boolean;
  observer?: CheckpointObserver;
  /** Time source for scheduling and `lastSuccessAt`; default the system clock. */
  clock?: Clock;
}

/** Options for {@link CheckpointCoordinator.checkpoint}. */
export interface CheckpointRequest {
  /** Partitions to include (e.g. the ones being revoked); default every partition with state. */
  partitions?: Iterable<TopicPartition>;
  /** Reported to observers; default 'manual'. */
  trigger?: 'manual' | 'stop' | 'revoke';
}

interface Request {
  partitions: Map<string, TopicPartition> | 'all';
  trigger: CheckpointTrigger;
  promise: Promise<CheckpointInfo | undefined>;
  resolve(info: CheckpointInfo | undefined): void;
  reject(err: unknown): void;
}

const KNOWN = [
  'intervalMs',
  'minPauseMs',
  'timeoutMs',
  'unhealthyAfterFailures',
  'retention',
  'partitions',
  'finalCheckpoint',
  'observer',
  'clock',
];

/**
 * Takes checkpoints of a state store: on demand, periodically after
 * `start()`, and a final one on `stop()`. At most one checkpoint is in
 * flight. A request made while one runs is queued, and all requests queued
 * meanwhile are merged into the single next checkpoint (the union of their
 * partitions), which snapshots the store after they were made: a caller
 * always gets a checkpoint at least as new as its call, never an older one
 * that happened to be running.
 */
export class CheckpointCoordinator {
  private readonly intervalMs: number;
  private readonly minPauseMs: number;
  private readonly timeoutMs: number;
  private readonly unhealthyAfter: number;
  private readonly retention: ResolvedRetention | undefined;
  private readonly finalCheckpoint: boolean;
  private readonly observer: CheckpointObserver | undefined;
  private readonly clock: Clock;
  private readonly defaultPartitions: (() => Iterable<TopicPartition>) | undefined;
  private running: Request | undefined;
  private queued: Request | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private lastStartAt: number | undefined;
  private lastEndAt: number | undefined;
  private failures = 0;
  private lastSuccess: number | undefined;
  private last: CheckpointInfo | undefined;
  // What the last successful checkpoint covered, to skip periodic ones that would repeat it.
  private lastCovered: { generation: number; partitions: string } | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly repository: CheckpointRepository,
    options: CheckpointCoordinatorOptions = {},
  ) {
    checkOptions(options, 'checkpoint coordinator', KNOWN);
    if (typeof store?.snapshot !== 'function') throw new ConfigError('the coordinator needs a StateStore');
    if (typeof repository?.write !== 'function') throw new ConfigError('the coordinator needs a CheckpointRepository');
    this.intervalMs = numberOption('intervalMs', options.intervalMs, { min: 1, default: 60_000 });
    this.minPauseMs = numberOption('minPauseMs', options.minPauseMs, { min: 0, default: 5_000 });
    this.timeoutMs = numberOption('timeoutMs', options.timeoutMs, { min: 1, default: 300_000 });
    this.unhealthyAfter = intOption('unhealthyAfterFailures', options.unhealthyAfterFailures, { min: 1, default: 3 });
    this.retention = options.retention === false ? undefined : resolveRetention(options.retention);
    this.finalCheckpoint = booleanOption('finalCheckpoint', options.finalCheckpoint, true);
    if (options.clock !== undefined && typeof options.clock?.now !== 'function')
      throw new ConfigError('"clock" must have a now() method');
    this.clock = options.clock ?? systemClock;
    this.observer = options.observer;
    this.defaultPartitions = functionOption(
      'partitions',
      options.partitions,
      'a function returning the partitions to checkpoint',
    );
  }

  /** False after `unhealthyAfterFailures` consecutive failed checkpoints, until one succeeds. */
  get healthy(): boolean {
    return this.failures < this.unhealthyAfter;
  }

  /** Failed checkpoints since the last successful one. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** When the last checkpoint succeeded (ms since the epoch), if one has. */
  get lastSuccessAt(): number | undefined {
    return this.lastSuccess;
  }

  /** The last checkpoint written. */
  get lastCheckpoint(): CheckpointInfo | undefined {
    return this.last;
  }

  /** True while a checkpoint is being written. */
  get inFlight(): boolean {
    return this.running !== undefined;
  }

  /** True between `start()` and `stop()`. */
  get periodic(): boolean {
    return this.started;
  }

  /**
   * Writes a checkpoint now (or right after the one in flight; see the class
   * comment). Resolves with it, or undefined when there was nothing to
   * checkpoint; rejects if it failed or timed out.
   */
  checkpoint(request: CheckpointRequest = {}): Promise<CheckpointInfo | undefined> {
    let partitions: TopicPartition[] | undefined;
    try {
      // Bad input is the caller's error, not a failed checkpoint: check it here.
      if (typeof request !== 'object' || request === null)
        throw new InvalidArgumentError('checkpoint request must be an object');
      if (request.partitions !== undefined) {
        partitions = [...request.partitions];
        for (const tp of partitions) assertTopicPartition(tp?.topic, tp?.partition);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const trigger = request.trigger ?? 'manual';
    if (trigger !== 'manual' && trigger !== 'stop' && trigger !== 'revoke') {
      return Promise.reject(
        new InvalidArgumentError(`checkpoint trigger must be 'manual', 'stop' or 'revoke', got ${String(trigger)}`),
      );
    }
    return this.enqueue(partitions, trigger);
  }

  /** Starts periodic checkpoints; idempotent. The first comes after one interval. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule();
  }

  /**
   * Stops periodic checkpoints, waits for the one in flight, then (unless
   * `finalCheckpoint: false`) writes a final checkpoint of every partition
   * and resolves with it. Idempotent; `start()` may be called again later.
   */
  async stop(): Promise<CheckpointInfo | undefined> {
    this.started = false;
    this.clearTimer();
    await this.running?.promise.catch(() => undefined);
    await this.queued?.promise.catch(() => undefined);
    if (!this.finalCheckpoint) return undefined;
    return this.enqueue(undefined, 'stop');
  }

  private enqueue(
    partitions: Iterable<TopicPartition> | undefined,
    trigger: CheckpointTrigger,
  ): Promise<CheckpointInfo | undefined> {
    const wanted = partitions === undefined ? 'all' : collect(partitions);
    if (this.running === undefined) {
      const req = newRequest(wanted, trigger);
      this.launch(req);
      return req.promise;
    }
    if (this.queued === undefined) this.queued = newRequest(wanted, trigger);
    else merge(this.queued, wanted);
    return this.queued.promise;
  }

  private launch(req: Request): void {
    this.running = req;
    this.clearTimer();
    void this.run(req)
      .then(req.resolve, req.reject)
      .finally(() => {
        this.running = undefined;
        const next = this.queued;
        this.queued = undefined;
        if (next !== undefined) this.launch(next);
        else this.schedule();
      });
  }

  private async run(req: Request): Promise<CheckpointInfo | undefined> {
    const startedMs = performance.now();
    this.lastStartAt = this.clock.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new CheckpointTimeoutError(
          `checkpoint took longer than ${this.timeoutMs} ms and was abandoned; nothing of it is visible`,
          this.timeoutMs,
        );
        controller.abort(err);
        reject(err);
      }, this.timeoutMs);
    });
    timedOut.catch(() => undefined);
    let info: CheckpointInfo | undefined;
    try {
      info = await Promise.race([this.write(req, controller.signal), timedOut]);
    } catch (err) {
      clearTimeout(timer);
      this.lastEndAt = this.clock.now();
      this.failures++;
      const error = err instanceof Error ? err : new Error(String(err));
      notify(this.observer, 'checkpointFailed', {
        trigger: req.trigger,
        durationMs: performance.now() - startedMs,
        error,
        consecutiveFailures: this.failures,
        healthy: this.healthy,
      });
      if (this.failures === this.unhealthyAfter)
        notify(this.observer, 'healthChanged', { healthy: false, consecutiveFailures: this.failures });
      throw err;
    }
    clearTimeout(timer);
    const wasHealthy = this.healthy;
    this.failures = 0;
    this.lastSuccess = this.clock.now();
    if (!wasHealthy) notify(this.observer, 'healthChanged', { healthy: true, consecutiveFailures: 0 });
    if (info !== undefined) {
      this.last = info;
      notify(this.observer, 'checkpointCompleted', {
        id: info.id,
        trigger: req.trigger,
        durationMs: performance.now() - startedMs,
        partitions: info.partitions.length,
        entries: info.entries,
        rawBytes: info.rawBytes,
        storedBytes: info.storedBytes,
        at: this.lastSuccess,
      });
      await this.applyRetention();
    }
    this.lastEndAt = this.clock.now();
    return info;
  }

  private async write(req: Request, signal: AbortSignal): Promise<CheckpointInfo | undefined> {
    const wanted = req.partitions === 'all' ? this.defaultPartitions?.() : req.partitions.values();
    const partitions = wanted === undefined ? undefined : [...wanted];
    // A periodic checkpoint of an unchanged store would only repeat the last
    // one (and push an older one out of retention): skip it, as "nothing to
    // checkpoint" (the last one still covers the state).
    const covered = {
      generation: this.store.generation,
      partitions: partitions === undefined ? '*' : partitions.map(formatTopicPartition).sort().join(','),
    };
    if (
      req.trigger === 'periodic' &&
      this.lastCovered?.generation === covered.generation &&
      this.lastCovered.partitions === covered.partitions
    ) {
      return undefined;
    }
    const snapshot = await this.store.snapshot();
    try {
      return await this.repository
        .write(snapshot, {
          partitions,
          signal,
          onStarted: (id, partitions) =>
            notify(this.observer, 'checkpointStarted', { id, trigger: req.trigger, partitions }),
        })
        .then((info) => {
          if (info !== undefined) this.lastCovered = covered;
          return info;
        });
    } finally {
      snapshot.release();
    }
  }

  private async applyRetention(): Promise<void> {
    if (this.retention === undefined) return;
    const started = performance.now();
    try {
      const r = await this.repository.prune(this.retention);
      notify(this.observer, 'retentionCompleted', {
        deleted: r.deleted,
        deletedIncomplete: r.deletedIncomplete,
        quarantined: r.quarantined,
        kept: r.kept.length,
        durationMs: performance.now() - started,
      });
    } catch (err) {
      // A failed prune never fails the checkpoint that preceded it.
      notify(this.observer, 'retentionFailed', { error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  // Next periodic run: one interval after the last start, and at least
  // minPauseMs after the last end.
  private schedule(): void {
    this.clearTimer();
    if (!this.started || this.running !== undefined) return;
    const now = this.clock.now();
    const due = Math.max((this.lastStartAt ?? now) + this.intervalMs, (this.lastEndAt ?? -Infinity) + this.minPauseMs);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (!this.started || this.running !== undefined) return;
        this.enqueue(undefined, 'periodic').catch(() => undefined); // reported through the observer
      },
      Math.max(0, due - now),
    );
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function newRequest(partitions: Request['partitions'], trigger: CheckpointTrigger): Request {
  let resolve!: Request['resolve'];
  let reject!: Request['reject'];
  const promise = new Promise<CheckpointInfo | undefined>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { partitions, trigger, promise, resolve, reject };
}

function merge(into: Request, wanted: Request['partitions']): void {
  if (into.partitions === 'all') return;
  if (wanted === 'all') into.partitions = 'all';
  else for (const [k, tp] of wanted) into.partitions.set(k, tp);
}

function collect(tps: Iterable<TopicPartition>): Map<string, TopicPartition> {
  const out = new Map<string, TopicPartition>();
  for (const tp of tps) out.set(formatTopicPartition(tp), { topic: tp.topic, partition: tp.partition });
  return out;
}
