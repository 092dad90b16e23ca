// Shared by the metrics tests: instrumented pipelines over the in-process
// source with real LMDB stores and checkpoints, scrapes over real HTTP, and
// the metric list parsed out of docs/METRICS.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  TidemarkMetrics,
  type CheckpointCoordinatorOptions,
  type CheckpointStorage,
  type MetricsServer,
  type PipelineOptions,
  type TopicPartition,
} from '../../src/index.js';
import { accountRecord, balanceHandler } from '../helpers/accounts.js';

export const TOPIC = 'payments';
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A log with `n` account records over `partitions` partitions. */
export function seedLog(n: number, partitions = 4): InProcessLog {
  const log = new InProcessLog();
  log.createTopic(TOPIC, partitions);
  appendRecords(log, 0, n);
  return log;
}

/** Appends account records `from` .. `from + n - 1`. */
export function appendRecords(log: InProcessLog, from: number, n: number): void {
  log.append(
    TOPIC,
    Array.from({ length: n }, (_, i) => accountRecord(from + i)),
  );
}

/** A metrics instance with its server on a free port, both closed after the test. */
export async function servedMetrics(
  options: ConstructorParameters<typeof TidemarkMetrics>[0] = {},
): Promise<{ metrics: TidemarkMetrics; server: MetricsServer }> {
  const metrics = new TidemarkMetrics(options);
  const server = await metrics.serve({ port: 0, host: '127.0.0.1' });
  onTestFinished(() => server.close());
  return { metrics, server };
}

export interface Run {
  pipeline: Pipeline;
  source: InProcessSource;
  store: StateStore;
  repository: CheckpointRepository;
}

export interface RunOptions {
  /** Replaces the checkpoint storage (fault injection). */
  storage?: CheckpointStorage;
  coordinator?: Omit<CheckpointCoordinatorOptions, 'finalCheckpoint' | 'observer' | 'partitions'>;
  pipeline?: Partial<PipelineOptions>;
  partitions?: TopicPartition[];
  maxBatchRecords?: number;
  /** Default true: await `pipeline.start()`. */
  awaitStart?: boolean;
}

/**
 * A pipeline over `log` with a real LMDB store in `dirs.state` and checkpoints
 * in `dirs.checkpoints`, wired to `metrics` the way docs/METRICS.md shows.
 * Stopped (and its repository closed) after the test.
 */
export async function startRun(
  metrics: TidemarkMetrics,
  log: InProcessLog,
  dirs: { state: string; checkpoints: string },
  options: RunOptions = {},
): Promise<Run & { started: Promise<void> }> {
  const store = await StateStore.open({ path: dirs.state, sweepIntervalMs: 0 });
  const repository = new CheckpointRepository({
    storage: options.storage ?? new LocalDirectoryStorage({ path: dirs.checkpoints }),
    observer: metrics.checkpointObserver,
  });
  const source = new InProcessSource({
    log,
    topics: [TOPIC],
    maxBatchRecords: options.maxBatchRecords ?? 137,
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
  });
  const pipeline = new Pipeline({
    source,
    store,
    handler: balanceHandler,
    handleSignals: false,
    commitInterval: { records: 250, ms: 50 },
    checkpoints: {
      repository,
      coordinator: {
        intervalMs: 3_600_000,
        minPauseMs: 0,
        retention: { keepLast: 3 },
        ...options.coordinator,
        observer: metrics.checkpointObserver,
      },
    },
    ...options.pipeline,
  });
  metrics.instrument(pipeline, { store });
  onTestFinished(async () => {
    await pipeline.stop().catch(() => undefined);
    await repository.close();
  });
  const started = pipeline.start();
  if (options.awaitStart !== false) await started;
  else started.catch(() => undefined);
  return { pipeline, source, store, repository, started };
}

/** Resolves once the pipeline has processed every record of the log. */
export async function caughtUp(run: Run, log: InProcessLog): Promise<void> {
  await expect
    .poll(
      () => {
        const positions = run.pipeline.positions();
        return (
          positions.length === run.pipeline.assignment().length && positions.every((p) => p.offset === log.endOffset(p))
        );
      },
      { timeout: 20_000, interval: 5 },
    )
    .toBe(true);
}

/** Resolves once every owned partition's processed position is durably committed. */
export async function committed(run: Run): Promise<void> {
  await expect
    .poll(() => run.pipeline.positions().every((p) => run.store.offset(p.topic, p.partition) === p.offset), {
      timeout: 20_000,
      interval: 5,
    })
    .toBe(true);
}

// ---- scrapes ----

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed Prometheus text exposition. */
export class Scrape {
  readonly types = new Map<string, string>();
  readonly samples: Sample[] = [];

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type !== null) this.types.set(type[1]!, type[2]!);
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (m === null) throw new Error(`unparsable exposition line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** Samples of a metric (a histogram's `_bucket`, `_sum` and `_count` lines belong to it). */
  of(metric: string): Sample[] {
    const histogram = this.types.get(metric) === 'histogram';
    return this.samples.filter(
      (s) =>
        s.name === metric || (histogram && [`${metric}_bucket`, `${metric}_sum`, `${metric}_count`].includes(s.name)),
    );
  }

  /** Sum of the samples named exactly `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  }

  /** Whether any sample named `name` has these labels. */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }
}

/** GET /metrics over HTTP. */
export async function scrape(server: MetricsServer): Promise<Scrape> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return new Scrape(await res.text());
}

/** Status and body of a GET. */
export async function get(
  server: MetricsServer,
  pathname: string,
  init?: RequestInit,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.url}${pathname}`, init);
  return { status: res.status, body: await res.text() };
}

// ---- docs/METRICS.md ----

export interface DocumentedMetric {
  name: string;
  type: string;
  labels: string[];
}

/** Every metric docs/METRICS.md lists in its tables: `| \`name\` | type | labels | meaning |`. */
export function documentedMetrics(): DocumentedMetric[] {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/METRICS.md'), 'utf8');
  const out: DocumentedMetric[] = [];
  for (const m of doc.matchAll(/^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram|summary) \|([^|]*)\|/gm)) {
    // The labels cell: `topic`, `result` (`success`, `failure`): label names are the backticked words outside parentheses.
    const labels = [...m[3]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((l) => l[1]!);
    out.push({ name: m[1]!, type: m[2]!, labels });
  }
  return out;
}

// ---- checkpoint files ----

/** Flips one bit in the middle of a checkpoint's segment of `tp`. */
export function corruptSegment(checkpoints: string, id: string, tp: TopicPartition): void {
  const file = path.join(checkpoints, id, `${tp.topic}.${tp.partition}.seg`);
  const bytes = fs.readFileSync(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0x10;
  fs.writeFileSync(file, bytes);
}
