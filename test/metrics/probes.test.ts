import * as path from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  ConfigError,
  LocalDirectoryStorage,
  startMetricsServer,
  type ObjectWriter,
  type StoredObject,
} from '../../src/index.js';
import { balanceHandler } from '../helpers/accounts.js';
import { tmpDir } from '../helpers/tmp.js';
import { appendRecords, caughtUp, get, scrape, seedLog, servedMetrics, startRun, TOPIC } from './support.js';

/** Listing waits for `open()`: holds a pipeline's recovery, which lists the checkpoints first. */
class GatedStorage extends LocalDirectoryStorage {
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));
  listing = false;

  open(): void {
    this.opened();
  }

  override async list(prefix: string): Promise<StoredObject[]> {
    this.listing = true;
    await this.gate;
    return super.list(prefix);
  }
}

/** Refuses to write while `failing`. */
class FailingStorage extends LocalDirectoryStorage {
  failing = false;

  override async create(key: string): Promise<ObjectWriter> {
    if (this.failing) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    return super.create(key);
  }
}

describe('/readyz and /healthz', () => {
  it('/readyz is 503 until every assigned partition has recovered, then 200', async () => {
    const log = seedLog(500);
    const dir = tmpDir('mx');
    const storage = new GatedStorage({ path: path.join(dir, 'checkpoints') });
    const { metrics, server } = await servedMetrics();
    expect(await get(server, '/readyz')).toEqual({ status: 503, body: 'not ready: no pipeline is instrumented\n' });

    const run = await startRun(
      metrics,
      log,
      { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') },
      { storage, awaitStart: false },
    );
    onTestFinished(() => storage.open()); // runs before the pipeline is stopped, should the test fail early
    // Assigned, and recovery is waiting on the checkpoint listing.
    await expect.poll(() => storage.listing, { timeout: 10_000, interval: 5 }).toBe(true);
    expect(run.pipeline.ready).toBe(false);
    expect(await get(server, '/readyz')).toEqual({
      status: 503,
      body: `not ready: recovering ${TOPIC}:0, ${TOPIC}:1, ${TOPIC}:2, ${TOPIC}:3\n`,
    });
    const during = await scrape(server);
    expect(during.value('tidemark_ready')).toBe(0);
    expect(during.value('tidemark_assigned_partitions')).toBe(4);
    expect(during.has('tidemark_partition_recoveries_total')).toBe(false);
    expect((await get(server, '/healthz')).status).toBe(200); // recovering is not unhealthy

    storage.open();
    await run.started;
    expect(run.pipeline.ready).toBe(true);
    expect(await get(server, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect((await scrape(server)).value('tidemark_ready')).toBe(1);
  });

  it('/healthz is 503 with the reason while checkpoints keep failing, and 200 again after one succeeds', async () => {
    const log = seedLog(500);
    const dir = tmpDir('mx');
    const storage = new FailingStorage({ path: path.join(dir, 'checkpoints') });
    const { metrics, server } = await servedMetrics();
    const run = await startRun(
      metrics,
      log,
      { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') },
      {
        storage,
        coordinator: { unhealthyAfterFailures: 2 },
      },
    );
    await caughtUp(run, log);
    expect(await get(server, '/healthz')).toEqual({ status: 200, body: 'ok\n' });

    storage.failing = true;
    await expect(run.pipeline.checkpoints!.checkpoint()).rejects.toThrow();
    let s = await scrape(server);
    expect(s.value('tidemark_checkpoint_consecutive_failures')).toBe(1);
    expect(s.value('tidemark_checkpoint_healthy')).toBe(1);
    expect((await get(server, '/healthz')).status).toBe(200); // one failure is not yet unhealthy

    await expect(run.pipeline.checkpoints!.checkpoint()).rejects.toThrow();
    s = await scrape(server);
    expect(s.value('tidemark_checkpoint_consecutive_failures')).toBe(2);
    expect(s.value('tidemark_checkpoint_healthy')).toBe(0);
    expect(s.value('tidemark_checkpoints_total', { trigger: 'manual', result: 'failure' })).toBe(2);
    expect(s.value('tidemark_checkpoint_duration_seconds_count', { result: 'failure' })).toBe(2);
    expect(s.value('tidemark_checkpoint_last_success_timestamp_seconds')).toBe(0);
    const unhealthy = await get(server, '/healthz');
    expect(unhealthy.status).toBe(503);
    expect(unhealthy.body).toMatch(
      /^unhealthy: checkpoints are failing: 2 consecutive failures \(last error: .*no space left on device.*\)\n$/,
    );
    expect(await get(server, '/readyz')).toEqual({ status: 200, body: 'ready\n' }); // still processing

    storage.failing = false;
    await run.pipeline.checkpoints!.checkpoint();
    s = await scrape(server);
    expect(s.value('tidemark_checkpoint_consecutive_failures')).toBe(0);
    expect(s.value('tidemark_checkpoint_healthy')).toBe(1);
    expect(s.value('tidemark_checkpoint_last_success_timestamp_seconds')).toBeGreaterThan(0);
    expect(await get(server, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
  });

  it('/healthz and /readyz are 503 with the error once the pipeline has failed', async () => {
    const log = seedLog(300, 1);
    const dir = tmpDir('mx');
    const { metrics, server } = await servedMetrics();
    const run = await startRun(
      metrics,
      log,
      { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') },
      {
        pipeline: {
          errors: { retries: 0, backoffMs: 0 },
          handler: (m, s, ctx) => {
            if (ctx.offset === '350') throw new Error('poison record');
            balanceHandler(m, s);
          },
        },
      },
    );
    await caughtUp(run, log);
    appendRecords(log, 300, 100);
    await expect(run.pipeline.done).rejects.toThrow(/poison record/);
    const health = await get(server, '/healthz');
    expect(health.status).toBe(503);
    expect(health.body).toMatch(
      /^unhealthy: the pipeline failed: handler failed 1 time\(s\) on payments:0 offset 350: poison record/,
    );
    const ready = await get(server, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/^not ready: the pipeline failed: /);
    const s = await scrape(server);
    expect(s.value('tidemark_pipeline_failures_total')).toBe(1);
    expect(s.value('tidemark_assigned_partitions')).toBe(0);
    expect(s.has('tidemark_consumer_lag')).toBe(false);
    expect(s.value('tidemark_handler_failures_total', { partition: '0' })).toBe(1);
    // 350 are in the committed state, but the pipeline reports a batch only when it finishes: the
    // records of the batch that failed (from 300 on) may be missing from the count.
    expect(s.value('tidemark_records_processed_total')).toBeGreaterThanOrEqual(300);
    expect(s.value('tidemark_records_processed_total')).toBeLessThanOrEqual(350);
  });
});

describe('startMetricsServer', () => {
  it('serves /metrics, /healthz, /readyz; 404 elsewhere, 405 for other methods; port 0 picks a free port; close() frees it', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'test' });
    let ready: boolean | { ok: boolean; reason?: string } = false;
    const server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry, ready: () => ready });
    let closed = false;
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      expect(await get(server, '/readyz')).toEqual({ status: 503, body: 'not ready: no reason given\n' });
      ready = { ok: false, reason: 'warming up' };
      expect(await get(server, '/readyz')).toEqual({ status: 503, body: 'not ready: warming up\n' });
      ready = true;
      expect(await get(server, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
      expect(await get(server, '/healthz')).toEqual({ status: 200, body: 'ok\n' }); // no check given: healthy
      expect((await get(server, '/metrics?format=text')).status).toBe(200);
      for (const p of ['/', '/metric', '/metrics/x', '/healthz/', '/favicon.ico'])
        expect((await get(server, p)).status, p).toBe(404);
      const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      await post.text();
      const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      await server.close(); // with a keep-alive connection open from the fetches above
      closed = true;
      await expect(fetch(`${server.url}/metrics`)).rejects.toThrow();
    } finally {
      if (!closed) await server.close();
    }
  });

  it('answers 503 with the message when a check throws, and 500 when collecting fails', async () => {
    const registry = new Registry();
    const { Gauge } = await import('prom-client');
    new Gauge({
      name: 'broken',
      help: 'collect throws',
      registers: [registry],
      collect: () => {
        throw new Error('collector broke');
      },
    });
    const server = await startMetricsServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      ready: () => {
        throw new Error('boom');
      },
      healthy: () => ({ ok: false, reason: 'disk full' }),
    });
    try {
      expect(await get(server, '/readyz')).toEqual({ status: 503, body: 'not ready: the check threw: boom\n' });
      expect(await get(server, '/healthz')).toEqual({ status: 503, body: 'unhealthy: disk full\n' });
      expect(await get(server, '/metrics')).toEqual({
        status: 500,
        body: 'collecting metrics failed: collector broke\n',
      });
    } finally {
      await server.close();
    }
  });

  it('refuses bad options with a ConfigError, and a port in use with the listen error', async () => {
    const registry = new Registry();
    const ready = () => true;
    await expect(startMetricsServer({ port: -1, registry, ready })).rejects.toThrow(ConfigError);
    await expect(startMetricsServer({ port: 70_000, registry, ready })).rejects.toThrow(
      /"port" must be an integer in 0\.\.65535/,
    );
    await expect(startMetricsServer({ port: 1.5, registry, ready })).rejects.toThrow(ConfigError);
    await expect(startMetricsServer({ port: 0, registry: {} as Registry, ready })).rejects.toThrow(
      /"registry" must be a prom-client Registry/,
    );
    await expect(startMetricsServer({ port: 0, registry, ready: undefined as never })).rejects.toThrow(
      /"ready" must be a function/,
    );
    await expect(startMetricsServer({ port: 0, registry, ready, healthy: 'yes' as never })).rejects.toThrow(
      /"healthy" must be a function/,
    );
    const first = await startMetricsServer({ port: 0, host: '127.0.0.1', registry, ready });
    try {
      await expect(startMetricsServer({ port: first.port, host: '127.0.0.1', registry, ready })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});
