import { collectDefaultMetrics, Registry, type DefaultMetricsCollectorConfiguration } from 'prom-client';
import type { CheckpointObserver } from '../checkpoint/observer.js';
import type { S3RetryEvent } from '../checkpoint/s3-retry.js';
import { ConfigError } from '../errors/config-error.js';
import { checkOptions } from '../util/options.js';
import type { PipelineObserver, StalledPartition } from '../pipeline/observer.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { StateStore } from '../state/state-store.js';
import { formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';
import { createInstruments, initializeKnownSeries, registerInstruments, type Instruments } from './instruments.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { ProbeResult } from './probe.js';
import { StoreCollector } from './store-collector.js';

/** Node's default metrics (event-loop delay, heap, GC, CPU, handles), as prom-client configures them. */
export type DefaultMetricsOptions = Omit<
  DefaultMetricsCollectorConfiguration<'text/plain; version=0.0.4; charset=utf-8'>,
  'register'
>;

/** Options for {@link TidemarkMetrics}. */
export interface TidemarkMetricsOptions {
  /** Where the metrics are registered; default a Registry of this instance's own. Prometheus text format only. */
  registry?: Registry;
  /** Prefix of every metric name; default `tidemark_`. Node's default metrics keep their own names. */
  prefix?: string;
  /** Also collect Node's default metrics (`nodejs_eventloop_lag_seconds`...) into the registry; default false. */
  defaultMetrics?: boolean | DefaultMetricsOptions;
}

/** Options for {@link TidemarkMetrics.instrument}. */
export interface InstrumentOptions {
  /** The state store read at every scrape; default the pipeline's own. */
  store?: StateStore;
}

/** Options for {@link TidemarkMetrics.serve}. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Default every interface. */
  host?: string;
}

// What the events told about one pipeline (or about whoever feeds `pipelineObserver`).
interface PipelineTrack {
  readonly pipeline: Pipeline | undefined;
  readonly assigned: Map<string, TopicPartition>;
  readonly recovering: Map<string, TopicPartition>;
  failure: Error | undefined;
  /** The last readinessChanged, for a pipeline known by its events only. */
  readyEvent: boolean;
  /** Partitions the pipeline's watchdog says cannot make progress. */
  stalled: StalledPartition[];
  /** Why the source cannot deliver yet (e.g. a missing topic), until the first assignment. */
  waiting: string | undefined;
  /** Events seen (for the unattached observer: is anyone feeding it?). */
  seen: boolean;
  detached: boolean;
}

// The checkpoint figures as the events left them.
interface CheckpointTrack {
  inFlight: boolean;
  lastSuccessMs: number | undefined;
  consecutiveFailures: number;
  healthy: boolean;
  lastError: string | undefined;
  last:
    | { rawBytes: number; storedBytes: number; entries: number; incremental: boolean; chainLength: number }
    | undefined;
}

const PREFIX_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/;

/**
 * Prometheus metrics for tidemark (docs/METRICS.md lists them all), fed by
 * the pipeline's and the checkpoints' observer hooks and, at scrape time, by
 * the state store's stats() and the pipeline's readiness and checkpoint
 * health. Also the answers of /readyz and /healthz.
 *
 * ```ts
 * const metrics = new TidemarkMetrics({ defaultMetrics: true });
 * const repository = new CheckpointRepository({ storage, observer: metrics.checkpointObserver });
 * const pipeline = new Pipeline({ source, store, handler,
 *   checkpoints: { repository, coordinator: { observer: metrics.checkpointObserver } } });
 * metrics.instrument(pipeline);
 * const server = await metrics.serve({ port: 9464 });
 * ```
 */
export class TidemarkMetrics {
  readonly registry: Registry;
  readonly prefix: string;
  /**
   * For a pipeline not given to {@link instrument} (e.g. in the `observers`
   * option). `instrument()` adds its own: use one or the other per pipeline,
   * not both, or every event counts twice.
   */
  readonly pipelineObserver: PipelineObserver;
  /** Pass it to both the CheckpointRepository (corrupt checkpoints, restores) and the coordinator options (checkpoints, retention). */
  readonly checkpointObserver: CheckpointObserver;
  /**
   * Pass as S3CheckpointStorage's `onRetry`: counts every retried request in
   * `tidemark_checkpoint_storage_retries_total{operation,reason}`.
   */
  readonly storageRetryObserver: (event: S3RetryEvent) => void;

  private readonly m: Instruments;
  private readonly stores: StoreCollector;
  private readonly tracks: PipelineTrack[] = [];
  private readonly unattached: PipelineTrack;
  private readonly checkpoint: CheckpointTrack = {
    inFlight: false,
    lastSuccessMs: undefined,
    consecutiveFailures: 0,
    healthy: true,
    lastError: undefined,
    last: undefined,
  };
  private stopped = 0;

  constructor(options: TidemarkMetricsOptions = {}) {
    checkOptions(options, 'metrics', ['registry', 'prefix', 'defaultMetrics']);
    const prefix = options.prefix ?? 'tidemark_';
    if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix))
      throw new ConfigError(`"prefix" must match [a-zA-Z_:][a-zA-Z0-9_:]*, got ${JSON.stringify(prefix)}`);
    const registry = options.registry ?? new Registry();
    if (typeof registry?.registerMetric !== 'function')
      throw new ConfigError('"registry" must be a prom-client Registry');
    if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
      // prom-client appends another _total to counters in OpenMetrics output.
      throw new ConfigError('"registry" must use the Prometheus text format (counter names already end in _total)');
    }
    this.registry = registry;
    this.prefix = prefix;
    this.m = createInstruments(prefix, {
      stores: oncePerScrape(() => this.stores.refresh()),
      pipelines: oncePerScrape(() => this.refreshPipelines()),
    });
    const wanted = options.defaultMetrics ?? false;
    const defaults = wanted === false ? undefined : wanted === true ? {} : wanted;
    if (
      defaults !== undefined &&
      registry.getSingleMetric(`${defaults.prefix ?? ''}process_cpu_seconds_total`) !== undefined
    ) {
      throw new ConfigError('the registry already holds Node default metrics: leave "defaultMetrics" off');
    }
    registerInstruments(registry, this.m);
    initializeKnownSeries(this.m);
    this.stores = new StoreCollector(this.m);
    if (defaults !== undefined) collectDefaultMetrics({ ...defaults, register: registry });
    this.unattached = newTrack(undefined);
    this.tracks.push(this.unattached);
    this.pipelineObserver = this.observerFor(this.unattached);
    this.checkpointObserver = this.newCheckpointObserver();
    this.storageRetryObserver = (event) =>
      this.m.storageRetries.inc({ operation: event.operation, reason: event.reason });
  }

  /**
   * Observes a pipeline (before or after start), reads its readiness and
   * checkpoint health at each scrape, and its store's stats when given.
   * When the pipeline stops gracefully it is let go; one that failed stays,
   * so /healthz keeps saying so. Returns a function that lets it go now.
   */
  instrument(pipeline: Pipeline, options: InstrumentOptions = {}): () => void {
    if (typeof pipeline?.observe !== 'function') throw new ConfigError('instrument() needs a Pipeline');
    if (this.tracks.some((t) => t.pipeline === pipeline))
      throw new ConfigError('this pipeline is already instrumented');
    const track = newTrack(pipeline);
    this.tracks.push(track);
    pipeline.observe(this.observerFor(track));
    const untrackStore = this.trackStore(options.store ?? pipeline.stateStore);
    const release = (): void => {
      if (track.detached) return;
      track.detached = true;
      const i = this.tracks.indexOf(track);
      if (i >= 0) this.tracks.splice(i, 1);
      for (const tp of track.assigned.values()) this.m.lag.remove(labels(tp));
      untrackStore();
    };
    pipeline.done.then(
      () => {
        this.stopped++;
        release();
      },
      (err: unknown) => {
        track.failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    return release;
  }

  /** Reads a store's stats() at every scrape (and at each commit) until it closes. Returns a function that stops it. */
  trackStore(store: StateStore): () => void {
    if (typeof store?.stats !== 'function') throw new ConfigError('trackStore() needs a StateStore');
    return this.stores.track(store);
  }

  /** /readyz: every instrumented pipeline has recovered all its assigned partitions. */
  readiness(): ProbeResult {
    const active = this.tracks.filter((t) => t.pipeline !== undefined || t.seen);
    if (active.length === 0)
      return { ok: false, reason: this.stopped > 0 ? 'the pipeline has stopped' : 'no pipeline is instrumented' };
    for (const t of active) {
      if (t.pipeline === undefined ? t.readyEvent : t.pipeline.ready) continue;
      if (t.failure !== undefined) return { ok: false, reason: `the pipeline failed: ${t.failure.message}` };
      if (t.recovering.size > 0) return { ok: false, reason: `recovering ${describe([...t.recovering.values()])}` };
      if (t.waiting !== undefined) return { ok: false, reason: t.waiting };
      if (t.stalled.length > 0) {
        const which = t.stalled.map(
          (s) =>
            `${formatTopicPartition(s)} (at ${s.next ?? '?'} of ${s.logEnd}, no batch for ${Math.round(s.idleMs / 1000)} s)`,
        );
        return { ok: false, reason: `stalled: ${which.join(', ')}` };
      }
      return { ok: false, reason: 'no partition assigned yet, or the pipeline is not running' };
    }
    return { ok: true };
  }

  /** /healthz: no instrumented pipeline has failed and checkpoints are healthy. */
  health(): ProbeResult {
    const reasons: string[] = [];
    for (const t of this.tracks) if (t.failure !== undefined) reasons.push(`the pipeline failed: ${t.failure.message}`);
    const cp = this.checkpointFigures();
    if (!cp.healthy) {
      const last = this.checkpoint.lastError === undefined ? '' : ` (last error: ${this.checkpoint.lastError})`;
      reasons.push(`checkpoints are failing: ${cp.consecutiveFailures} consecutive failures${last}`);
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reason: reasons.join('; ') };
  }

  /** Serves /metrics, /healthz and /readyz from this instance. */
  serve(options: ServeOptions): Promise<MetricsServer> {
    return startMetricsServer({
      port: options?.port,
      ...(options?.host === undefined ? {} : { host: options.host }),
      registry: this.registry,
      ready: () => this.readiness(),
      healthy: () => this.health(),
    });
  }

  private observerFor(t: PipelineTrack): PipelineObserver {
    const m = this.m;
    const live = (): boolean => {
      t.seen = true;
      return !t.detached;
    };
    return {
      batchProcessed: (tp, records, durationMs) => {
        if (!live()) return;
        m.recordsProcessed.inc(labels(tp), records);
        m.batchDuration.observe({ topic: tp.topic }, durationMs / 1000);
      },
      committed: (info) => {
        if (!live()) return;
        m.commits.inc({ result: 'success' });
        m.commitDuration.observe(info.durationMs / 1000);
        m.commitEntries.inc(info.entries);
        // The pipeline closes its store when it stops: read the counts while they are there.
        this.stores.refresh();
      },
      commitFailed: () => {
        if (live()) m.commits.inc({ result: 'failure' });
      },
      sourceCommitFailed: () => {
        if (live()) m.sourceCommitFailures.inc();
      },
      recovered: (r) => {
        if (!live()) return;
        t.recovering.delete(formatTopicPartition(r));
        m.recoveries.inc({ ...labels(r), source: r.source });
        m.recoveryDuration.observe({ source: r.source }, r.durationMs / 1000);
        m.recoverySkipped.inc(r.skipped.length);
      },
      rebalanced: ({ assigned, revoked }) => {
        if (!live()) return;
        for (const tp of revoked) {
          t.assigned.delete(formatTopicPartition(tp));
          t.recovering.delete(formatTopicPartition(tp));
          m.lag.remove(labels(tp));
        }
        t.waiting = undefined;
        for (const tp of assigned) {
          t.assigned.set(formatTopicPartition(tp), tp);
          t.recovering.set(formatTopicPartition(tp), tp);
        }
        if (assigned.length > 0) m.rebalances.inc({ change: 'assigned' });
        if (revoked.length > 0) m.rebalances.inc({ change: 'revoked' });
      },
      lag: (tp, lag) => {
        if (live() && t.assigned.has(formatTopicPartition(tp))) m.lag.set(labels(tp), lag);
      },
      handlerFailed: (record) => {
        if (live()) m.handlerFailures.inc(labels(record));
      },
      deadLettered: (record) => {
        if (live()) m.deadLettered.inc(labels(record));
      },
      readinessChanged: (ready) => {
        if (live()) t.readyEvent = ready;
      },
      gap: (g) => {
        if (!live()) return;
        m.offsetGaps.inc();
        m.offsetGapRecords.inc(g.records);
      },
      waiting: (reason) => {
        if (live()) t.waiting = reason;
      },
      stalled: (partitions) => {
        if (live()) t.stalled = partitions;
      },
      failed: (error) => {
        if (!live()) return;
        t.failure ??= error;
        m.pipelineFailures.inc();
        // It owns nothing any more (the source stops); the failure itself stays for /healthz.
        for (const tp of t.assigned.values()) m.lag.remove(labels(tp));
        t.assigned.clear();
        t.recovering.clear();
        t.stalled = [];
      },
    };
  }

  private newCheckpointObserver(): CheckpointObserver {
    const m = this.m;
    const cp = this.checkpoint;
    // Per partition, what its running restore has reported (the counters add the difference).
    const restoring = new Map<string, { records: number; bytes: number }>();
    return {
      checkpointStarted: () => {
        cp.inFlight = true;
      },
      checkpointCompleted: (e) => {
        m.checkpoints.inc({ trigger: e.trigger, result: 'success' });
        m.checkpointDuration.observe({ result: 'success' }, e.durationMs / 1000);
        cp.inFlight = false;
        cp.lastSuccessMs = Math.max(cp.lastSuccessMs ?? 0, e.at);
        cp.consecutiveFailures = 0;
        cp.healthy = true;
        cp.last = {
          rawBytes: e.rawBytes,
          storedBytes: e.storedBytes,
          entries: e.entries,
          incremental: e.kind === 'incremental',
          chainLength: e.chainLength,
        };
        m.checkpointSegments.inc({ kind: 'full' }, e.fullSegments);
        m.checkpointSegments.inc({ kind: 'delta' }, e.deltaSegments);
      },
      checkpointFailed: (e) => {
        m.checkpoints.inc({ trigger: e.trigger, result: 'failure' });
        m.checkpointDuration.observe({ result: 'failure' }, e.durationMs / 1000);
        cp.inFlight = false;
        cp.consecutiveFailures = e.consecutiveFailures;
        cp.healthy = e.healthy;
        cp.lastError = e.error.message;
      },
      healthChanged: (e) => {
        cp.healthy = e.healthy;
        cp.consecutiveFailures = e.consecutiveFailures;
      },
      retentionCompleted: (e) => {
        m.retentionRuns.inc({ result: 'success' });
        m.retentionDeleted.inc(e.deleted.length + e.deletedIncomplete.length);
      },
      retentionFailed: () => {
        m.retentionRuns.inc({ result: 'failure' });
      },
      restoreCompleted: (e) => {
        m.restoreDuration.observe(e.durationMs / 1000);
        m.restoredPartitions.inc(e.restored.length);
      },
      restoreProgress: (e) => {
        const l = labels(e);
        const seen = restoring.get(`${e.topic}:${e.partition}`) ?? { records: 0, bytes: 0 };
        if (e.recordsRestored > seen.records) m.restoreRecords.inc(l, e.recordsRestored - seen.records);
        if (e.bytesRestored > seen.bytes) m.restoreBytes.inc(l, e.bytesRestored - seen.bytes);
        const running = e.phase === 'streaming';
        if (running) restoring.set(`${e.topic}:${e.partition}`, { records: e.recordsRestored, bytes: e.bytesRestored });
        else restoring.delete(`${e.topic}:${e.partition}`);
        m.restoreRemainingRecords.set(l, running ? e.recordsTotal - e.recordsRestored : 0);
        m.restoreRemainingBytes.set(l, running ? e.bytesTotal - e.bytesRestored : 0);
        if (e.elapsedMs > 0) m.restoreRate.set(l, (e.recordsRestored * 1000) / e.elapsedMs);
        if (e.phase === 'done') m.restoreTimeToReady.set(l, e.elapsedMs / 1000);
      },
      corruptCheckpoint: (e) => {
        m.corruptCheckpoints.inc({ quarantined: String(e.quarantined) });
      },
    };
  }

  // The events' figures, overridden by what the instrumented pipelines'
  // coordinators say now (they also know of successes with nothing to
  // checkpoint, which send no event).
  private checkpointFigures(): CheckpointTrack {
    const out = { ...this.checkpoint };
    const coordinators = this.tracks.flatMap((t) =>
      t.pipeline?.checkpoints === undefined ? [] : [t.pipeline.checkpoints],
    );
    if (coordinators.length === 0) return out;
    out.inFlight = coordinators.some((c) => c.inFlight);
    out.healthy = coordinators.every((c) => c.healthy);
    out.consecutiveFailures = Math.max(...coordinators.map((c) => c.consecutiveFailures));
    for (const c of coordinators) {
      if (c.lastSuccessAt !== undefined) out.lastSuccessMs = Math.max(out.lastSuccessMs ?? 0, c.lastSuccessAt);
      const last = c.lastCheckpoint;
      if (out.last === undefined && last !== undefined)
        out.last = {
          rawBytes: last.rawBytes,
          storedBytes: last.storedBytes,
          entries: last.entries,
          incremental: last.partitions.some((p) => p.kind === 'delta'),
          chainLength: last.partitions.reduce((n, p) => Math.max(n, p.depth ?? 0), 0),
        };
    }
    return out;
  }

  private refreshPipelines(): void {
    const m = this.m;
    m.ready.set(this.readiness().ok ? 1 : 0);
    m.assignedPartitions.set(this.tracks.reduce((n, t) => n + t.assigned.size, 0));
    m.stalledPartitions.set(this.tracks.reduce((n, t) => n + t.stalled.length, 0));
    const cp = this.checkpointFigures();
    m.checkpointInProgress.set(cp.inFlight ? 1 : 0);
    m.checkpointHealthy.set(cp.healthy ? 1 : 0);
    m.checkpointConsecutiveFailures.set(cp.consecutiveFailures);
    m.checkpointLastSuccess.set(cp.lastSuccessMs === undefined ? 0 : cp.lastSuccessMs / 1000);
    m.checkpointRawBytes.set(cp.last?.rawBytes ?? 0);
    m.checkpointStoredBytes.set(cp.last?.storedBytes ?? 0);
    m.checkpointEntries.set(cp.last?.entries ?? 0);
    m.checkpointIncremental.set(cp.last?.incremental === true ? 1 : 0);
    m.checkpointChainLength.set(cp.last?.chainLength ?? 0);
  }
}

function newTrack(pipeline: Pipeline | undefined): PipelineTrack {
  return {
    pipeline,
    assigned: new Map(),
    recovering: new Map(),
    failure: undefined,
    stalled: [],
    waiting: undefined,
    readyEvent: false,
    seen: false,
    detached: false,
  };
}

/**
 * prom-client calls every metric's collect() in one synchronous pass per
 * scrape (Registry.metrics() starts each metric's get() before awaiting
 * any); several metrics share one refresh, which runs once per pass.
 */
function oncePerScrape(refresh: () => void): () => void {
  let fresh = false;
  return () => {
    if (fresh) return;
    fresh = true;
    queueMicrotask(() => {
      fresh = false;
    });
    refresh();
  };
}

function labels(tp: TopicPartition): { topic: string; partition: string } {
  return { topic: tp.topic, partition: String(tp.partition) };
}

function describe(tps: TopicPartition[]): string {
  const shown = tps.slice(0, 8).map(formatTopicPartition).join(', ');
  return tps.length > 8 ? `${shown} and ${tps.length - 8} more partitions` : shown;
}
