import * as fs from 'node:fs';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError, InProcessLog, InProcessSource, Pipeline, StateStore, TidemarkMetrics } from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tmpDir } from '../helpers/tmp.js';
import { documentedMetrics, ROOT, Scrape } from './support.js';

const tp0 = { topic: 'orders', partition: 0 };

async function scrapeOf(metrics: TidemarkMetrics): Promise<Scrape> {
  return new Scrape(await metrics.registry.metrics());
}

async function openStore(dir: string, extra: Partial<Parameters<typeof StateStore.open>[0]> = {}): Promise<StateStore> {
  const store = await StateStore.open({ path: dir, sweepIntervalMs: 0, ...extra });
  onTestFinished(() => store.close().catch(() => undefined));
  return store;
}

describe('TidemarkMetrics registries', () => {
  it('adds Node default metrics (event-loop delay...) only on request', async () => {
    const plain = await scrapeOf(new TidemarkMetrics());
    expect([...plain.types.keys()].filter((n) => !n.startsWith('tidemark_'))).toEqual([]);
    const withDefaults = await scrapeOf(new TidemarkMetrics({ defaultMetrics: true }));
    expect(withDefaults.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(withDefaults.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    for (const d of documentedMetrics().filter((m) => !m.name.startsWith('tidemark_')))
      expect(withDefaults.types.get(d.name), d.name).toBe(d.type);
    const shared = new Registry();
    new TidemarkMetrics({ registry: shared, defaultMetrics: true });
    expect(() => new TidemarkMetrics({ registry: shared, prefix: 'b_', defaultMetrics: true })).toThrow(
      /already holds Node default metrics/,
    );
    expect(shared.getSingleMetric('b_ready')).toBeUndefined(); // refused whole
    const configured = await scrapeOf(new TidemarkMetrics({ defaultMetrics: { labels: { app: 'x' } } }));
    expect(configured.samples.find((s) => s.name === 'nodejs_eventloop_lag_p99_seconds')?.labels).toEqual({ app: 'x' });
  });

  it('two instances with their own registries do not clash and count apart', async () => {
    const a = new TidemarkMetrics();
    const b = new TidemarkMetrics();
    expect(a.registry).not.toBe(b.registry);
    a.pipelineObserver.batchProcessed!(tp0, 10, 5);
    b.pipelineObserver.batchProcessed!(tp0, 3, 5);
    expect((await scrapeOf(a)).value('tidemark_records_processed_total', { topic: 'orders', partition: '0' })).toBe(10);
    expect((await scrapeOf(b)).value('tidemark_records_processed_total', { topic: 'orders', partition: '0' })).toBe(3);
  });

  it('refuses a registry that already holds its metrics, but takes it with another prefix', async () => {
    const registry = new Registry();
    const first = new TidemarkMetrics({ registry });
    expect(() => new TidemarkMetrics({ registry })).toThrow(ConfigError);
    expect(() => new TidemarkMetrics({ registry })).toThrow(
      /already holds tidemark_records_processed_total, .*another prefix/,
    );
    const second = new TidemarkMetrics({ registry, prefix: 'other_' });
    second.pipelineObserver.batchProcessed!(tp0, 2, 1);
    const s = await scrapeOf(first);
    expect(s.value('other_records_processed_total')).toBe(2);
    expect(s.value('tidemark_records_processed_total')).toBe(0);
  });

  it('refuses bad options', () => {
    expect(() => new TidemarkMetrics({ prefix: 'bad-prefix' })).toThrow(/"prefix" must match/);
    const openMetrics = new Registry();
    openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    expect(() => new TidemarkMetrics({ registry: openMetrics })).toThrow(/Prometheus text format/);
    expect(() => new TidemarkMetrics({ registy: new Registry() } as never)).toThrow(/unknown metrics option "registy"/);
    expect(() => new TidemarkMetrics({ registry: {} as Registry })).toThrow(
      /"registry" must be a prom-client Registry/,
    );
    const metrics = new TidemarkMetrics();
    expect(() => metrics.instrument({} as never)).toThrow(/needs a Pipeline/);
    expect(() => metrics.trackStore({} as never)).toThrow(/needs a StateStore/);
  });

  it('instruments a pipeline once, and lets it go on request', async () => {
    const store = await StateStore.open({ backend: 'memory' });
    onTestFinished(() => store.close());
    const log = new InProcessLog();
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: [] }),
      store,
      handler: () => undefined,
      handleSignals: false,
    });
    const metrics = new TidemarkMetrics();
    const release = metrics.instrument(pipeline, { store });
    expect(() => metrics.instrument(pipeline)).toThrow(/already instrumented/);
    expect(metrics.readiness()).toEqual({
      ok: false,
      reason: 'no partition assigned yet, or the pipeline is not running',
    });
    store.partition('orders', 0).put('k', 1);
    expect((await scrapeOf(metrics)).value('tidemark_state_puts_total')).toBe(1);
    release();
    release(); // idempotent
    expect(metrics.readiness()).toEqual({ ok: false, reason: 'no pipeline is instrumented' });
    store.partition('orders', 0).put('k', 2);
    const s = await scrapeOf(metrics);
    expect(s.value('tidemark_state_puts_total')).toBe(1); // the store went with it
    expect(s.has('tidemark_state_entries')).toBe(false);
  });
});

describe('state store stats as metrics', () => {
  it('turns cumulative stats into counters that grow by the delta at each scrape, across a store closed and reopened', async () => {
    const dir = path.join(tmpDir('mx'), 'state');
    const clock = new ManualClock(1_000_000);
    const metrics = new TidemarkMetrics();
    let store = await openStore(dir, { cacheEntries: 10, clock });
    metrics.trackStore(store);
    const p = store.partition('orders', 0);
    for (let i = 0; i < 30; i++) p.put(`k${i}`, { i });
    p.put('short', 1, { ttlMs: 10 });
    await store.commit([{ ...tp0, offset: '31' }]);
    for (let i = 0; i < 30; i++) p.get(`k${i}`);
    expect(p.delete('k0')).toBe(true);

    let s = await scrapeOf(metrics);
    const labels = { topic: 'orders', partition: '0' };
    const stats = store.stats().partitions[0]!;
    expect(s.types.get('tidemark_state_gets_total')).toBe('counter');
    expect(s.value('tidemark_state_puts_total', labels)).toBe(31);
    expect(s.value('tidemark_state_gets_total', labels)).toBe(30);
    expect(s.value('tidemark_state_deletes_total', labels)).toBe(1);
    expect(s.value('tidemark_state_cache_hits_total', labels)).toBe(stats.cacheHits);
    expect(s.value('tidemark_state_cache_misses_total', labels)).toBe(stats.cacheMisses);
    expect(s.value('tidemark_state_cache_misses_total', labels)).toBeGreaterThan(0); // 31 entries, a cache of 10
    expect(s.value('tidemark_state_cache_evictions_total', labels)).toBe(stats.evictions);
    expect(s.value('tidemark_state_cache_evictions_total', labels)).toBeGreaterThan(0);
    expect(s.value('tidemark_state_entries', labels)).toBe(31);
    expect(s.value('tidemark_state_dirty_entries')).toBe(1); // the delete
    expect(s.value('tidemark_state_cached_entries')).toBe(store.stats().cachedEntries);

    // A second scrape with nothing new adds nothing.
    expect((await scrapeOf(metrics)).value('tidemark_state_gets_total', labels)).toBe(30);

    clock.advance(20);
    expect(p.get('short')).toBeUndefined(); // expired on read
    s = await scrapeOf(metrics);
    expect(s.value('tidemark_state_expirations_total', labels)).toBe(1);
    expect(s.value('tidemark_state_gets_total', labels)).toBe(31);
    await store.commit([{ ...tp0, offset: '32' }]);
    await store.close();

    // Closed: its gauges go, the counters keep what they counted (the last 0 gets since the scrape are all).
    s = await scrapeOf(metrics);
    expect(s.has('tidemark_state_entries')).toBe(false);
    expect(s.value('tidemark_state_gets_total', labels)).toBe(31);

    // The store again, from zero in its own stats: the counters carry on from where they were.
    store = await openStore(dir, { clock });
    const untrack = metrics.trackStore(store);
    store.partition('orders', 0).get('k5');
    s = await scrapeOf(metrics);
    expect(s.value('tidemark_state_gets_total', labels)).toBe(32);
    expect(s.value('tidemark_state_entries', labels)).toBe(29); // 31 - k0 - short
    untrack();
    s = await scrapeOf(metrics);
    expect(s.has('tidemark_state_entries')).toBe(false);
    expect(s.value('tidemark_state_gets_total', labels)).toBe(32);
  });
});

describe('the pipeline observer without instrument()', () => {
  it('counts events and answers readiness from readinessChanged', async () => {
    const metrics = new TidemarkMetrics();
    const o = metrics.pipelineObserver;
    expect(metrics.readiness()).toEqual({ ok: false, reason: 'no pipeline is instrumented' });
    o.rebalanced!({ assigned: [tp0, { topic: 'orders', partition: 1 }], revoked: [] });
    expect(metrics.readiness()).toEqual({ ok: false, reason: 'recovering orders:0, orders:1' });
    for (const partition of [0, 1]) {
      o.recovered!({
        topic: 'orders',
        partition,
        source: 'checkpoint',
        offset: '10',
        durationMs: 1500,
        checkpointId: 'x',
        skipped: [{ id: 'y', reason: 'bad' }],
      });
    }
    o.readinessChanged!(true);
    expect(metrics.readiness()).toEqual({ ok: true });
    o.lag!(tp0, 42);
    o.committed!({ durationMs: 4, entries: 7, partitions: 2 });
    o.commitFailed!(new Error('disk'));
    o.sourceCommitFailed!(new Error('group'));
    const s = await scrapeOf(metrics);
    expect(s.value('tidemark_partition_recoveries_total', { source: 'checkpoint' })).toBe(2);
    expect(s.value('tidemark_partition_recovery_duration_seconds_sum', { source: 'checkpoint' })).toBe(3);
    expect(s.value('tidemark_partition_recovery_duration_seconds_bucket', { source: 'checkpoint', le: '2.5' })).toBe(2);
    expect(s.value('tidemark_recovery_skipped_checkpoints_total')).toBe(2);
    expect(s.value('tidemark_consumer_lag', { topic: 'orders', partition: '0' })).toBe(42);
    expect(s.value('tidemark_commits_total', { result: 'success' })).toBe(1);
    expect(s.value('tidemark_commits_total', { result: 'failure' })).toBe(1);
    expect(s.value('tidemark_commit_entries_total')).toBe(7);
    expect(s.value('tidemark_commit_duration_seconds_sum')).toBe(0.004);
    expect(s.value('tidemark_source_commit_failures_total')).toBe(1);
    expect(s.value('tidemark_assigned_partitions')).toBe(2);
    expect(s.value('tidemark_ready')).toBe(1);
    o.failed!(new Error('gone'));
    expect(metrics.health()).toEqual({ ok: false, reason: 'the pipeline failed: gone' });
  });

  it('a checkpoint observer alone keeps the checkpoint figures', async () => {
    const metrics = new TidemarkMetrics();
    const c = metrics.checkpointObserver;
    c.checkpointStarted!({ id: 'a', trigger: 'periodic', partitions: [tp0] });
    expect((await scrapeOf(metrics)).value('tidemark_checkpoint_in_progress')).toBe(1);
    c.checkpointCompleted!({
      id: 'a',
      trigger: 'periodic',
      durationMs: 2000,
      partitions: 1,
      entries: 5,
      rawBytes: 1000,
      storedBytes: 300,
      at: 1_700_000_000_000,
      kind: 'incremental',
      fullSegments: 0,
      deltaSegments: 1,
      chainLength: 2,
    });
    {
      const s = await scrapeOf(metrics);
      expect(s.value('tidemark_checkpoint_incremental')).toBe(1);
      expect(s.value('tidemark_checkpoint_chain_length')).toBe(2);
      expect(s.value('tidemark_checkpoint_segments_total', { kind: 'delta' })).toBe(1);
      expect(s.value('tidemark_checkpoint_segments_total', { kind: 'full' })).toBe(0);
    }
    c.checkpointFailed!({
      trigger: 'periodic',
      durationMs: 10,
      error: new Error('EIO'),
      consecutiveFailures: 1,
      healthy: true,
    });
    c.checkpointFailed!({
      trigger: 'periodic',
      durationMs: 10,
      error: new Error('EIO again'),
      consecutiveFailures: 2,
      healthy: false,
    });
    c.retentionCompleted!({ deleted: ['x', 'y'], deletedIncomplete: ['z'], quarantined: [], kept: 3, durationMs: 1 });
    c.retentionFailed!({ error: new Error('EACCES') });
    c.restoreCompleted!({
      durationMs: 250,
      restored: [{ ...tp0, checkpointId: 'a', offset: '5', entries: 5 }],
      skipped: [],
      missing: [],
    });
    c.corruptCheckpoint!({ id: 'b', reason: 'sha256 mismatch', quarantined: false });
    const s = await scrapeOf(metrics);
    expect(s.value('tidemark_checkpoint_in_progress')).toBe(0);
    expect(s.value('tidemark_checkpoints_total', { trigger: 'periodic', result: 'success' })).toBe(1);
    expect(s.value('tidemark_checkpoints_total', { trigger: 'periodic', result: 'failure' })).toBe(2);
    expect(s.value('tidemark_checkpoint_raw_bytes')).toBe(1000);
    expect(s.value('tidemark_checkpoint_stored_bytes')).toBe(300);
    expect(s.value('tidemark_checkpoint_entries')).toBe(5);
    expect(s.value('tidemark_checkpoint_last_success_timestamp_seconds')).toBe(1_700_000_000);
    expect(s.value('tidemark_checkpoint_consecutive_failures')).toBe(2);
    expect(s.value('tidemark_checkpoint_healthy')).toBe(0);
    expect(s.value('tidemark_retention_runs_total', { result: 'success' })).toBe(1);
    expect(s.value('tidemark_retention_runs_total', { result: 'failure' })).toBe(1);
    expect(s.value('tidemark_retention_deleted_checkpoints_total')).toBe(3);
    expect(s.value('tidemark_checkpoint_restore_duration_seconds_sum')).toBe(0.25);
    expect(s.value('tidemark_checkpoint_restored_partitions_total')).toBe(1);
    expect(s.value('tidemark_corrupt_checkpoints_total', { quarantined: 'false' })).toBe(1);
    expect(metrics.health()).toEqual({
      ok: false,
      reason: 'checkpoints are failing: 2 consecutive failures (last error: EIO again)',
    });
    c.healthChanged!({ healthy: true, consecutiveFailures: 0 });
    expect(metrics.health()).toEqual({ ok: true });
  });
});

describe('docs/METRICS.md and docs/grafana-dashboard.json', () => {
  it('the alerts and prose name documented metrics only', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/METRICS.md'), 'utf8');
    const documented = new Set(documentedMetrics().map((d) => d.name));
    const named = new Set(
      [...doc.matchAll(/\b(tidemark_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')),
    );
    expect([...named].filter((name) => !documented.has(name) && !name.endsWith('_'))).toEqual([]);
    expect(doc).toMatch(
      /- alert: TidemarkCheckpointFailing\n\s+expr: tidemark_checkpoint_consecutive_failures > 0\n\s+for: 10m/,
    );
  });

  it('is a dashboard whose queries use documented metrics only', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/grafana-dashboard.json'), 'utf8')) as {
      title: string;
      panels: Array<{ type: string; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.title).toBe('tidemark');
    const documented = new Set(documentedMetrics().map((d) => d.name));
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(20);
    const used = new Set(
      exprs.flatMap((e) =>
        [...e.matchAll(/\b((?:tidemark|nodejs|process)_[a-z0-9_]+)/g)].map((m) =>
          m[1]!.replace(/_(bucket|sum|count)$/, ''),
        ),
      ),
    );
    expect([...used].filter((name) => !documented.has(name))).toEqual([]);
    // Most of what is documented is on it.
    expect([...documented].filter((name) => name.startsWith('tidemark_') && !used.has(name))).toEqual([]);
  });
});
