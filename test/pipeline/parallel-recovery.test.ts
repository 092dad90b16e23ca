// Issue 10: the partitions of an assignment restore concurrently, and each
// is processed as soon as its own restore is done, while the others still
// restore. One partition's restore is held by a gate in its checkpoint
// storage (not a sleep): everything is asserted from the pipeline's own
// events and from the state.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type CheckpointStorage,
  type PipelineObserver,
  type TopicPartition,
} from '../../src/index.js';
import { accountRecord, balanceHandler, reference, type Balance } from '../helpers/accounts.js';
import { gatePartition, type GatedStorage } from '../helpers/gated-storage.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 'payments';
const P0: TopicPartition = { topic: TOPIC, partition: 0 };
const P1: TopicPartition = { topic: TOPIC, partition: 1 };

/** A log of 2 partitions, a first run that checkpoints all of it, then the disk lost and more records. */
async function scene(): Promise<{
  log: InProcessLog;
  records: Array<{ key: string; value: string }>;
  dirs: { state: string; checkpoints: string };
}> {
  const log = new InProcessLog();
  log.createTopic(TOPIC, 2);
  const first = Array.from({ length: 3000 }, (_, i) => accountRecord(i));
  log.append(TOPIC, first);
  const dir = tmpDir('par');
  const dirs = { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') };
  const run = await start(log, dirs, new LocalDirectoryStorage({ path: dirs.checkpoints }));
  await run.started;
  await until(run, () => caughtUp(run.pipeline, log));
  await run.pipeline.stop(); // final checkpoint of both partitions
  fs.rmSync(dirs.state, { recursive: true }); // both must now restore from it
  const more = Array.from({ length: 1000 }, (_, i) => accountRecord(3000 + i));
  log.append(TOPIC, more);
  return { log, records: [...first, ...more], dirs };
}

interface Run {
  pipeline: Pipeline;
  source: InProcessSource;
  repository: CheckpointRepository;
  /** pipeline.start(): it resolves once the first assignment is recovered. */
  started: Promise<void>;
  events: string[];
  /** Called after every event. */
  check: Set<() => void>;
}

async function start(
  log: InProcessLog,
  dirs: { state: string },
  storage: CheckpointStorage,
  partitions: TopicPartition[] = [P0, P1],
  restoreConcurrency = 2,
): Promise<Run> {
  const store = await StateStore.open({ path: dirs.state });
  const source = new InProcessSource({ log, topics: [TOPIC], partitions, maxBatchRecords: 100 });
  const repository = new CheckpointRepository({ storage });
  const events: string[] = [];
  const check = new Set<() => void>();
  const seen = (e: string): void => {
    events.push(e);
    for (const c of [...check]) c();
  };
  const observer: PipelineObserver = {
    recovered: (r) => seen(`recovered ${r.partition} from ${r.source}`),
    batchProcessed: (tp) => seen(`batch ${tp.partition}`),
    readinessChanged: (ready) => seen(`ready ${ready}`),
    rebalanced: (c) => seen(`rebalanced +${c.assigned.map((t) => t.partition)} -${c.revoked.map((t) => t.partition)}`),
  };
  const pipeline = new Pipeline({
    source,
    store,
    handler: balanceHandler,
    commitInterval: { records: 200, ms: 50 },
    checkpoints: { repository, coordinator: { intervalMs: 3_600_000 } },
    restoreConcurrency,
    observers: [observer],
  });
  const started = pipeline.start();
  started.catch(() => undefined);
  return { pipeline, source, repository, started, events, check };
}

/** Resolves at the first event after which `condition` holds (or now). */
function until(run: Run, condition: () => boolean): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve) => {
    const c = (): void => {
      if (!condition()) return;
      run.check.delete(c);
      resolve();
    };
    run.check.add(c);
  });
}

function caughtUp(pipeline: Pipeline, log: InProcessLog, tps: TopicPartition[] = [P0, P1]): boolean {
  const at = new Map(pipeline.positions().map((p) => [p.partition, p.offset]));
  return tps.every((tp) => at.get(tp.partition) === log.endOffset(tp));
}

/** A gated storage holding P1's segment of the newest checkpoint. */
function gateP1(dirs: { checkpoints: string }): Promise<GatedStorage> {
  return gatePartition(dirs.checkpoints, P1);
}

async function stateOf(stateDir: string): Promise<{ state: Map<string, Balance>; offsets: Map<number, string> }> {
  const store = await StateStore.open({ path: stateDir });
  const state = new Map<string, Balance>();
  for (const tp of store.partitions())
    for (const e of store.partition(tp.topic, tp.partition).entries<Balance>()) {
      expect(state.has(e.key as string)).toBe(false);
      state.set(e.key as string, e.value);
    }
  const offsets = new Map(store.offsets().map((o) => [o.partition, o.offset]));
  await store.close();
  return { state, offsets };
}

describe('parallel recovery (issue 10)', () => {
  it('processes a restored partition while another still restores; ready only once both are', async () => {
    const { log, records, dirs } = await scene();
    const storage = await gateP1(dirs);
    const run = await start(log, dirs, storage);
    await storage.reached; // P1's restore is held
    await until(run, () => caughtUp(run.pipeline, log, [P0]));
    // P0 restored and processed all its records; P1 is still restoring.
    expect(run.events).toContain('recovered 0 from checkpoint');
    expect(run.events).toContain('batch 0');
    expect(run.events.some((e) => e.startsWith('recovered 1') || e === 'batch 1' || e === 'ready true')).toBe(false);
    expect(run.pipeline.ready).toBe(false);
    expect(run.pipeline.positions().map((p) => p.partition)).toEqual([0]);
    // P0's state is the reference of its records already; P1 has none yet.
    const p0Records = log.read(P0, 0, 1e9).map((r) => ({ value: r.value!.toString() }));
    const p0 = run.pipeline.stateStore.partition(TOPIC, 0);
    const expected = reference(p0Records);
    expect(new Map([...expected.keys()].map((k) => [k, p0.get<Balance>(k)]))).toEqual(expected);
    expect(run.pipeline.stateStore.offset(TOPIC, 1)).toBeUndefined();

    storage.open();
    await run.started;
    await until(run, () => caughtUp(run.pipeline, log) && run.pipeline.ready);
    const order = run.events.filter((e) => /^(recovered|ready true)/.test(e));
    expect(order).toEqual(['recovered 0 from checkpoint', 'recovered 1 from checkpoint', 'ready true']);
    expect(run.events.indexOf('batch 0')).toBeLessThan(run.events.indexOf('recovered 1 from checkpoint'));
    await run.pipeline.stop();
    const { state, offsets } = await stateOf(dirs.state);
    expect(state).toEqual(reference(records));
    expect(offsets).toEqual(new Map([0, 1].map((p) => [p, log.endOffset({ topic: TOPIC, partition: p })])));
  });

  it('restores up to restoreConcurrency partitions at once: with 2 the second is processed while the first is held, with 1 it waits', async () => {
    const { log, records, dirs } = await scene();
    // 2 at once: P1 restores and is processed while P0's restore is held.
    const storage = await gatePartition(dirs.checkpoints, P0);
    const run = await start(log, dirs, storage);
    await storage.reached;
    await until(run, () => caughtUp(run.pipeline, log, [P1]));
    expect(run.events.filter((e) => e.startsWith('recovered'))).toEqual(['recovered 1 from checkpoint']);
    storage.open();
    await run.started;
    await until(run, () => caughtUp(run.pipeline, log) && run.pipeline.ready);
    await run.pipeline.abort(); // no final checkpoint: the next run restores the same one
    fs.rmSync(dirs.state, { recursive: true });

    // 1 at a time: P1 waits for P0's restore; nothing recovers while it is held.
    const held = await gatePartition(dirs.checkpoints, P0);
    const one = await start(log, dirs, held, [P0, P1], 1);
    await held.reached;
    expect(one.events.filter((e) => e.startsWith('recovered') || e.startsWith('batch'))).toEqual([]);
    held.open();
    await one.started;
    // With 2 at once P1 would have recovered first.
    expect(one.events.filter((e) => e.startsWith('recovered'))).toEqual([
      'recovered 0 from checkpoint',
      'recovered 1 from checkpoint',
    ]);
    await until(one, () => caughtUp(one.pipeline, log) && one.pipeline.ready);
    await one.pipeline.stop();
    expect((await stateOf(dirs.state)).state).toEqual(reference(records));
  });

  it('a revoke while its restore is in flight abandons it: nothing of it visible, nothing lost or counted twice', async () => {
    const { log, records, dirs } = await scene();
    const storage = await gateP1(dirs);
    const run = await start(log, dirs, storage);
    await storage.reached;
    await until(run, () => caughtUp(run.pipeline, log, [P0]));
    await run.source.reassign([P0]); // revokes P1 mid-restore; the lock is free
    expect(run.events).toContain('rebalanced + -1');
    storage.open(); // the held read goes on, sees the cancellation, drops the staging
    await run.started;
    expect(run.events.some((e) => e.startsWith('recovered 1'))).toBe(false);
    expect(run.pipeline.stateStore.offset(TOPIC, 1)).toBeUndefined();
    expect(run.pipeline.stateStore.partitions().map((tp) => tp.partition)).toEqual([0]);
    expect(run.pipeline.ready).toBe(true); // only P0 is owned, and it is recovered
    // Assigned again: restored from the checkpoint, then exact.
    await run.source.reassign([P0, P1]);
    await until(run, () => caughtUp(run.pipeline, log) && run.pipeline.ready);
    expect(run.events.filter((e) => e.startsWith('recovered 1'))).toEqual(['recovered 1 from checkpoint']);
    await run.pipeline.stop();
    const { state } = await stateOf(dirs.state);
    expect(state).toEqual(reference(records));
  });

  it('stop() while a restore is in flight ends the pipeline; nothing of it visible, nothing lost', async () => {
    const { log, records, dirs } = await scene();
    const storage = await gateP1(dirs);
    const run = await start(log, dirs, storage);
    await storage.reached;
    await until(run, () => caughtUp(run.pipeline, log, [P0]));
    const stopped = run.pipeline.stop();
    storage.open();
    await stopped;
    await run.started;
    await run.pipeline.done;
    expect(run.events.some((e) => e.startsWith('recovered 1'))).toBe(false);
    const after = await stateOf(dirs.state);
    expect([...after.offsets.keys()]).toEqual([0]); // P1: no state, not even half of one
    expect(after.offsets.get(0)).toBe(log.endOffset(P0));
    // The next start restores P1 from the checkpoint and P0 from local state: exact.
    const again = await start(log, dirs, new LocalDirectoryStorage({ path: dirs.checkpoints }));
    await again.started;
    await until(again, () => caughtUp(again.pipeline, log));
    expect(again.events.filter((e) => e.startsWith('recovered')).sort()).toEqual([
      'recovered 0 from local',
      'recovered 1 from checkpoint',
    ]);
    await again.pipeline.stop();
    expect((await stateOf(dirs.state)).state).toEqual(reference(records));
  });

  it('a restore whose signal is aborted replaces nothing and rejects with the reason', async () => {
    const { dirs } = await scene();
    const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dirs.checkpoints }) });
    const store = await StateStore.open({ path: dirs.state });
    const controller = new AbortController();
    const reason = new Error('revoked');
    const progress: string[] = [];
    const observed = new CheckpointRepository({
      storage: new LocalDirectoryStorage({ path: dirs.checkpoints }),
      observer: {
        restoreProgress: (e) => {
          progress.push(`${e.partition} ${e.phase}`);
          if (e.phase === 'streaming') controller.abort(reason); // after a first chunk of the first partition
        },
      },
    });
    await expect(observed.restore(store, { partitions: [P0, P1], signal: controller.signal })).rejects.toBe(reason);
    expect(progress).toContain('0 streaming');
    expect(progress).toContain('0 failed');
    expect(store.partitions()).toEqual([]);
    expect(store.offsets()).toEqual([]);
    await store.close();
    await repo.close();
    await observed.close();
  });

  it('refuses a restoreConcurrency that is not a positive integer', async () => {
    const store = await StateStore.open({ backend: 'memory' });
    const log = new InProcessLog();
    log.createTopic(TOPIC, 1);
    const source = new InProcessSource({ log, topics: [TOPIC] });
    for (const bad of [0, -1, 1.5, '2', 65]) {
      expect(() => new Pipeline({ source, store, handler: balanceHandler, restoreConcurrency: bad as number })).toThrow(
        /"restoreConcurrency" must be an integer in 1\.\.64/,
      );
    }
    await store.close();
  });
});
