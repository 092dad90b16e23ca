import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { accountRecord, balanceHandler, reference } from '../helpers/accounts.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  appendRecords,
  caughtUp,
  committed,
  corruptSegment,
  documentedMetrics,
  get,
  scrape,
  seedLog,
  servedMetrics,
  startRun,
  TOPIC,
} from './support.js';

function dirsIn(dir: string): { state: string; checkpoints: string } {
  return { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') };
}

const ACCOUNTS = reference(Array.from({ length: 2000 }, (_, i) => accountRecord(i))).size;

describe('metrics of a real pipeline, scraped over HTTP', () => {
  it('holds every metric docs/METRICS.md lists, with its type, labels and a sample; and none it does not list', async () => {
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThan(40);
    const log = seedLog(2000);
    const dir = tmpDir('mx');
    const dirs = dirsIn(dir);
    const { metrics, server } = await servedMetrics({ defaultMetrics: true });

    // First life: empty recoveries, a dead-lettered record, a rebalance, checkpoints.
    const dead: string[] = [];
    const first = await startRun(metrics, log, dirs, {
      pipeline: {
        errors: {
          retries: 1,
          backoffMs: 0,
          onFailure: 'skip',
          deadLetter: (r) => void dead.push(`${r.partition}:${r.offset}`),
        },
        handler: (m, s, ctx) => {
          if (ctx.partition === 0 && ctx.offset === '5') throw new Error('poison');
          balanceHandler(m, s);
        },
      },
    });
    await caughtUp(first, log);
    await first.pipeline.checkpoints!.checkpoint();
    await first.source.reassign([0, 1, 2].map((partition) => ({ topic: TOPIC, partition }))); // revokes 3: commit and hand-over checkpoint
    await first.source.reassign([0, 1, 2, 3].map((partition) => ({ topic: TOPIC, partition }))); // 3 again, from its local state
    appendRecords(log, 2000, 400);
    await caughtUp(first, log);
    await first.pipeline.stop(); // final checkpoint
    expect(dead).toEqual(['0:5']);

    // Second life: lost disk, and the newest checkpoint is corrupt.
    const newest = (await first.repository.list())[0]!;
    corruptSegment(dirs.checkpoints, newest.id, { topic: TOPIC, partition: 1 });
    fs.rmSync(dirs.state, { recursive: true });
    const second = await startRun(metrics, log, dirs);
    await caughtUp(second, log);
    await committed(second);
    // This run's checkpoints are on a directory; S3 retries are counted against a real server in test/s3/metrics.test.ts.
    metrics.storageRetryObserver({ operation: 'PutObject', reason: 'SlowDown', attempt: 1, delayMs: 0 });

    const s = await scrape(server);
    const missing = documented.filter((d) => s.types.get(d.name) === undefined).map((d) => d.name);
    expect(missing).toEqual([]);
    for (const d of documented) {
      expect(s.types.get(d.name), d.name).toBe(d.type);
      const samples = s.of(d.name);
      expect(samples.length, `${d.name} has no sample`).toBeGreaterThan(0);
      for (const sample of samples) {
        const labels = Object.keys(sample.labels).filter((l) => l !== 'le');
        expect(labels.sort(), `labels of ${sample.name}`).toEqual([...d.labels].sort());
      }
    }
    const undocumented = [...s.types.keys()].filter(
      (name) => name.startsWith('tidemark_') && !documented.some((d) => d.name === name),
    );
    expect(undocumented).toEqual([]);

    // What the scenario did shows.
    expect(s.value('tidemark_partition_recoveries_total', { source: 'empty' })).toBe(4);
    expect(s.value('tidemark_partition_recoveries_total', { source: 'local', partition: '3' })).toBe(1);
    expect(s.value('tidemark_partition_recoveries_total', { source: 'checkpoint' })).toBe(4);
    expect(s.value('tidemark_corrupt_checkpoints_total', { quarantined: 'true' })).toBe(1);
    expect(s.value('tidemark_recovery_skipped_checkpoints_total')).toBeGreaterThanOrEqual(1);
    // Restore progress: four partitions restored, every record written, none left.
    expect(s.value('tidemark_restore_records_total')).toBeGreaterThan(0);
    expect(s.value('tidemark_restore_bytes_total')).toBeGreaterThan(0);
    expect(s.value('tidemark_restore_remaining_records')).toBe(0);
    expect(s.value('tidemark_restore_remaining_bytes')).toBe(0);
    expect(s.of('tidemark_restore_time_to_ready_seconds').length).toBe(4);
    expect(s.value('tidemark_dead_lettered_records_total', { partition: '0' })).toBe(1);
    expect(s.value('tidemark_handler_failures_total', { partition: '0' })).toBe(2); // first attempt and one retry
    expect(s.value('tidemark_rebalances_total', { change: 'revoked' })).toBe(1);
    expect(s.value('tidemark_rebalances_total', { change: 'assigned' })).toBe(3);
    expect(s.value('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('reports what one pipeline did: records, commits, state, cache, lag, checkpoint, readiness', async () => {
    const log = seedLog(2000);
    const { metrics, server } = await servedMetrics();
    const run = await startRun(metrics, log, dirsIn(tmpDir('mx')));
    await caughtUp(run, log);
    await committed(run);
    const before = Date.now();
    const info = await run.pipeline.checkpoints!.checkpoint();
    expect(info).toBeDefined();

    const s = await scrape(server);
    for (let p = 0; p < 4; p++) {
      const produced = Number(log.endOffset({ topic: TOPIC, partition: p }));
      expect(s.value('tidemark_records_processed_total', { topic: TOPIC, partition: String(p) })).toBe(produced);
      expect(s.value('tidemark_consumer_lag', { topic: TOPIC, partition: String(p) })).toBe(0);
      expect(
        s.value('tidemark_partition_recoveries_total', { topic: TOPIC, partition: String(p), source: 'empty' }),
      ).toBe(1);
    }
    expect(s.value('tidemark_records_processed_total')).toBe(2000);
    const commits = s.value('tidemark_commits_total', { result: 'success' });
    expect(commits).toBeGreaterThan(0);
    expect(s.value('tidemark_commit_duration_seconds_count')).toBe(commits);
    expect(s.value('tidemark_commits_total', { result: 'failure' })).toBe(0);
    expect(s.value('tidemark_batch_duration_seconds_count', { topic: TOPIC })).toBeGreaterThanOrEqual(4); // at least one per partition
    // State: one entry per account; each record is one get and one put (balanceHandler's update).
    expect(s.value('tidemark_state_entries')).toBe(ACCOUNTS);
    expect(s.value('tidemark_state_gets_total')).toBe(2000);
    expect(s.value('tidemark_state_puts_total')).toBe(2000);
    expect(s.value('tidemark_state_cache_hits_total') + s.value('tidemark_state_cache_misses_total')).toBe(2000);
    expect(s.value('tidemark_state_cache_misses_total')).toBe(ACCOUNTS); // each account misses once, then stays cached
    expect(s.value('tidemark_state_dirty_entries')).toBe(0);
    // The checkpoint.
    expect(s.value('tidemark_checkpoints_total', { trigger: 'manual', result: 'success' })).toBe(1);
    expect(s.value('tidemark_checkpoint_duration_seconds_count', { result: 'success' })).toBe(1);
    expect(s.value('tidemark_checkpoint_entries')).toBe(ACCOUNTS);
    expect(s.value('tidemark_checkpoint_raw_bytes')).toBe(info!.rawBytes);
    expect(s.value('tidemark_checkpoint_stored_bytes')).toBe(info!.storedBytes);
    expect(s.value('tidemark_checkpoint_raw_bytes')).toBeGreaterThan(0);
    const at = s.value('tidemark_checkpoint_last_success_timestamp_seconds');
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(at).toBeLessThanOrEqual(Date.now() / 1000);
    expect(s.value('tidemark_checkpoint_consecutive_failures')).toBe(0);
    expect(s.value('tidemark_checkpoint_healthy')).toBe(1);
    expect(s.value('tidemark_checkpoint_in_progress')).toBe(0);
    expect(s.value('tidemark_retention_runs_total', { result: 'success' })).toBe(1);
    // Readiness and assignment.
    expect(s.value('tidemark_ready')).toBe(1);
    expect(s.value('tidemark_assigned_partitions')).toBe(4);
    expect(s.value('tidemark_rebalances_total', { change: 'assigned' })).toBe(1);
    expect(await get(server, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect(await get(server, '/healthz')).toEqual({ status: 200, body: 'ok\n' });

    // After a graceful stop: counters stay, the store's gauges and the lag go, not ready.
    await run.pipeline.stop();
    const after = await scrape(server);
    expect(after.value('tidemark_records_processed_total')).toBe(2000);
    expect(after.value('tidemark_state_puts_total')).toBe(2000);
    // The test's own checkpoint counts as "manual", the pipeline's final one as "stop".
    expect(after.value('tidemark_checkpoints_total', { trigger: 'manual', result: 'success' })).toBe(1);
    expect(after.value('tidemark_checkpoints_total', { trigger: 'stop', result: 'success' })).toBe(1);
    expect(after.has('tidemark_state_entries')).toBe(false);
    expect(after.has('tidemark_consumer_lag')).toBe(false);
    expect(after.value('tidemark_ready')).toBe(0);
    expect(await get(server, '/readyz')).toEqual({ status: 503, body: 'not ready: the pipeline has stopped\n' });
    expect((await get(server, '/healthz')).status).toBe(200);
  });

  it('labels recoveries by source: empty at first, local after a crash, checkpoint after a lost disk; a corrupt checkpoint is counted and skipped', async () => {
    const log = seedLog(1500);
    const dir = tmpDir('mx');
    const dirs = dirsIn(dir);
    const { metrics, server } = await servedMetrics();
    const recoveries = async (source: string): Promise<number> =>
      (await scrape(server)).value('tidemark_partition_recoveries_total', { source });

    const first = await startRun(metrics, log, dirs);
    await caughtUp(first, log);
    await first.pipeline.checkpoints!.checkpoint(); // older, valid
    appendRecords(log, 1500, 300);
    await caughtUp(first, log);
    await first.pipeline.stop(); // newest: will be corrupted
    expect(await recoveries('empty')).toBe(4);

    // A crash: local state is there, ahead of or at the checkpoints.
    const second = await startRun(metrics, log, dirs);
    expect(await recoveries('local')).toBe(4);
    await second.pipeline.abort();

    const [newest, older] = await first.repository.list();
    corruptSegment(dirs.checkpoints, newest!.id, { topic: TOPIC, partition: 2 });
    fs.rmSync(dirs.state, { recursive: true });
    const third = await startRun(metrics, log, dirs);
    await caughtUp(third, log);
    const s = await scrape(server);
    expect(s.value('tidemark_partition_recoveries_total', { source: 'checkpoint' })).toBe(4);
    expect(s.value('tidemark_partition_recoveries_total', { source: 'checkpoint', partition: '2' })).toBe(1);
    expect(s.value('tidemark_corrupt_checkpoints_total', { quarantined: 'true' })).toBe(1);
    expect(s.value('tidemark_corrupt_checkpoints_total', { quarantined: 'false' })).toBe(0);
    expect(s.value('tidemark_recovery_skipped_checkpoints_total')).toBeGreaterThanOrEqual(1);
    expect(s.value('tidemark_checkpoint_restored_partitions_total')).toBe(4);
    expect(s.value('tidemark_checkpoint_restore_duration_seconds_count')).toBe(4);
    expect(s.value('tidemark_partition_recovery_duration_seconds_count', { source: 'checkpoint' })).toBe(4);
    expect((await third.repository.listQuarantined()).map((c) => c.id)).toEqual([newest!.id]);
    expect(older).toBeDefined();
    // The health stays fine: a corrupt checkpoint was handled, and the alert is on the counter.
    expect((await get(server, '/healthz')).status).toBe(200);
  });

  it('reports the lag of each partition as of its last batch, and drops it when the partition is revoked', async () => {
    const log = seedLog(0, 2);
    log.append(
      TOPIC,
      Array.from({ length: 1000 }, (_, i) => ({ ...accountRecord(i), partition: 0 })),
    );
    log.append(
      TOPIC,
      Array.from({ length: 10 }, (_, i) => ({ ...accountRecord(i), partition: 1 })),
    );
    const { metrics, server } = await servedMetrics();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const run = await startRun(metrics, log, dirsIn(tmpDir('mx')), {
      maxBatchRecords: 100,
      pipeline: {
        handler: async (m, s, ctx) => {
          if (ctx.partition === 0 && ctx.offset === '150') await gate; // in the second batch of partition 0
          balanceHandler(m, s);
        },
      },
    });
    // After partition 0's first batch: 1000 - 100 records behind.
    await expect
      .poll(async () => (await scrape(server)).value('tidemark_consumer_lag', { partition: '0' }), {
        timeout: 10_000,
        interval: 10,
      })
      .toBe(900);
    release();
    await caughtUp(run, log);
    await expect
      .poll(async () => (await scrape(server)).value('tidemark_consumer_lag', { partition: '0' }), {
        timeout: 10_000,
        interval: 10,
      })
      .toBe(0);
    await run.source.reassign([{ topic: TOPIC, partition: 0 }]);
    const s = await scrape(server);
    expect(s.has('tidemark_consumer_lag', { partition: '1' })).toBe(false);
    expect(s.has('tidemark_consumer_lag', { partition: '0' })).toBe(true);
    expect(s.value('tidemark_assigned_partitions')).toBe(1);
    expect(s.value('tidemark_rebalances_total', { change: 'revoked' })).toBe(1);
    expect(s.value('tidemark_records_processed_total')).toBe(1010);
  });
});
