import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  CheckpointRepository,
  HandlerFailedError,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type PipelineMessage,
  type PipelineObserver,
  type RecoveryReport,
  type SourceRecord,
} from '../../src/index.js';
import { accountRecord, balanceHandler, reference, type Balance } from '../helpers/accounts.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 'payments';

function seed(n: number, partitions = 4): { log: InProcessLog; records: Array<{ key: string; value: string }> } {
  const log = new InProcessLog();
  log.createTopic(TOPIC, partitions);
  const records = Array.from({ length: n }, (_, i) => accountRecord(i));
  log.append(TOPIC, records);
  return { log, records };
}

interface Run {
  pipeline: Pipeline;
  source: InProcessSource;
  store: StateStore;
  reports: RecoveryReport[];
}

async function startPipeline(
  log: InProcessLog,
  dirs: { state: string; checkpoints?: string },
  extra: Partial<ConstructorParameters<typeof Pipeline>[0]> = {},
  partitions?: Array<{ topic: string; partition: number }>,
): Promise<Run> {
  const store = await StateStore.open({ path: dirs.state });
  const source = new InProcessSource({
    log,
    topics: [TOPIC],
    maxBatchRecords: 137,
    ...(partitions ? { partitions } : {}),
  });
  const reports: RecoveryReport[] = [];
  const pipeline = new Pipeline({
    source,
    store,
    handler: balanceHandler,
    handleSignals: false,
    commitInterval: { records: 250, ms: 50 },
    observers: [{ recovered: (r) => reports.push(r) }],
    ...(dirs.checkpoints === undefined
      ? {}
      : {
          checkpoints: {
            repository: new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: dirs.checkpoints }) }),
          },
        }),
    ...extra,
  });
  await pipeline.start();
  return { pipeline, source, store, reports };
}

/** Resolves once every partition's next offset reaches the end of the log. */
async function caughtUp(run: Run, log: InProcessLog): Promise<void> {
  await expect
    .poll(
      () =>
        run.pipeline.positions().every((p) => p.offset === log.endOffset(p)) &&
        run.pipeline.positions().length === run.pipeline.assignment().length,
      { timeout: 20_000, interval: 5 },
    )
    .toBe(true);
}

async function stateOf(stateDir: string): Promise<Map<string, Balance>> {
  const store = await StateStore.open({ path: stateDir });
  const out = new Map<string, Balance>();
  for (const tp of store.partitions()) {
    for (const e of store.partition(tp.topic, tp.partition).entries<Balance>()) {
      expect(out.has(e.key as string)).toBe(false); // one key, one partition
      out.set(e.key as string, e.value);
    }
  }
  await store.close();
  return out;
}

describe('pipeline over the in-process source', () => {
  it('applies every record exactly once and commits state with the next offsets', async () => {
    const { log, records } = seed(5000);
    const state = path.join(tmpDir('pl'), 'state');
    const run = await startPipeline(log, { state });
    await caughtUp(run, log);
    expect(run.pipeline.ready).toBe(true);
    expect(run.reports.map((r) => r.source)).toEqual(['empty', 'empty', 'empty', 'empty']);
    await run.pipeline.stop();
    await run.pipeline.done;
    expect(await stateOf(state)).toEqual(reference(records));
    const store = await StateStore.open({ path: state });
    for (let p = 0; p < 4; p++) expect(store.offset(TOPIC, p)).toBe(log.endOffset({ topic: TOPIC, partition: p }));
    await store.close();
    // the source got the same offsets
    for (let p = 0; p < 4; p++)
      expect(run.source.committed.get(`${TOPIC}:${p}`)).toBe(log.endOffset({ topic: TOPIC, partition: p }));
  });

  it('after a crash, resumes from local state and replays only what was not committed', async () => {
    const { log, records } = seed(3000);
    const state = path.join(tmpDir('pl'), 'state');
    const first = await startPipeline(log, { state });
    await expect.poll(() => first.store.stats().commits, { timeout: 10_000, interval: 1 }).toBeGreaterThan(3);
    await first.pipeline.abort(); // like SIGKILL: no commit, no checkpoint
    log.append(
      TOPIC,
      Array.from({ length: 1000 }, (_, i) => accountRecord(3000 + i)),
    );
    const second = await startPipeline(log, { state });
    expect(second.reports.every((r) => r.source === 'local')).toBe(true);
    await caughtUp(second, log);
    await second.pipeline.stop();
    expect(await stateOf(state)).toEqual(
      reference([...records, ...Array.from({ length: 1000 }, (_, i) => accountRecord(3000 + i))]),
    );
  });

  it('after a lost disk, restores from the checkpoint and stays exact', async () => {
    const { log, records } = seed(4000);
    const dir = tmpDir('pl');
    const dirs = { state: path.join(dir, 'state'), checkpoints: path.join(dir, 'checkpoints') };
    const first = await startPipeline(log, dirs);
    await caughtUp(first, log);
    await first.pipeline.stop(); // final checkpoint
    fs.rmSync(dirs.state, { recursive: true });
    log.append(
      TOPIC,
      Array.from({ length: 500 }, (_, i) => accountRecord(4000 + i)),
    );
    const second = await startPipeline(log, dirs);
    expect(second.reports.map((r) => r.source)).toEqual(['checkpoint', 'checkpoint', 'checkpoint', 'checkpoint']);
    await caughtUp(second, log);
    await second.pipeline.stop();
    expect(await stateOf(dirs.state)).toEqual(
      reference([...records, ...Array.from({ length: 500 }, (_, i) => accountRecord(4000 + i))]),
    );
  });

  it('delivers tombstones and null keys to the handler as such', async () => {
    const log = new InProcessLog();
    log.createTopic('t', 1);
    log.append('t', [
      { key: 'k', value: 'v' },
      { key: 'k', value: null },
      { key: null, value: 'no key' },
    ]);
    const seen: Array<[string | null, string | null]> = [];
    const store = await StateStore.open({ backend: 'memory' });
    const source = new InProcessSource({ log, topics: ['t'] });
    const pipeline = new Pipeline({
      source,
      store,
      handleSignals: false,
      handler: (m: PipelineMessage, state) => {
        seen.push([m.key?.toString() ?? null, m.value?.toString() ?? null]);
        if (m.key !== null && m.value === null) state.delete(m.key);
        else if (m.key !== null) state.put(m.key, m.value!.toString());
      },
    });
    await pipeline.start();
    await expect.poll(() => seen.length, { timeout: 5000, interval: 1 }).toBe(3);
    await pipeline.stop();
    expect(seen).toEqual([
      ['k', 'v'],
      ['k', null],
      [null, 'no key'],
    ]);
  });

  it('retries a failing handler without applying its partial changes twice', async () => {
    const { log, records } = seed(1200, 2);
    const state = path.join(tmpDir('pl'), 'state');
    const failures = new Map<string, number>();
    const run = await startPipeline(
      log,
      { state },
      {
        errors: { retries: 3, backoffMs: 1 },
        handler: (m, s, ctx) => {
          balanceHandler(m, s); // changes the state first...
          const k = `${ctx.partition}:${ctx.offset}`;
          if (Number(ctx.offset) % 100 === 7 && (failures.get(k) ?? 0) < 2) {
            failures.set(k, (failures.get(k) ?? 0) + 1);
            throw new Error('flaky'); // ...then fails: the change must not count
          }
        },
      },
    );
    await caughtUp(run, log);
    await run.pipeline.stop();
    expect([...failures.values()].every((n) => n === 2)).toBe(true);
    expect(failures.size).toBeGreaterThan(5);
    expect(await stateOf(state)).toEqual(reference(records));
  });

  it("'fail' stops on a poison record with state committed up to the record before it", async () => {
    const { log } = seed(600, 1);
    const state = path.join(tmpDir('pl'), 'state');
    const attempts: number[] = [];
    const run = await startPipeline(
      log,
      { state },
      {
        errors: { retries: 2, backoffMs: 1 },
        observers: [{ handlerFailed: (_r: SourceRecord, _e: Error, attempt: number) => attempts.push(attempt) }],
        handler: (m, s, ctx) => {
          balanceHandler(m, s);
          if (ctx.offset === '333') throw new Error('poison');
        },
      },
    );
    const err = await run.pipeline.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HandlerFailedError);
    expect((err as HandlerFailedError).record.offset).toBe('333');
    expect((err as Error).message).toMatch(/failed 3 time\(s\) on payments:0 offset 333: poison/);
    expect(attempts).toEqual([1, 2, 3]);
    const store = await StateStore.open({ path: state });
    expect(store.offset(TOPIC, 0)).toBe('333');
    await store.close();
    expect(await stateOf(state)).toEqual(reference(Array.from({ length: 333 }, (_, i) => accountRecord(i))));
  });

  it("'skip' hands the poison record to the dead-letter callback and goes on without it", async () => {
    const { log, records } = seed(600, 1);
    const state = path.join(tmpDir('pl'), 'state');
    const dead: Array<[string, string]> = [];
    const run = await startPipeline(
      log,
      { state },
      {
        errors: {
          retries: 1,
          backoffMs: 1,
          onFailure: 'skip',
          deadLetter: (r, e) => {
            dead.push([r.offset, e.message]);
          },
        },
        handler: (m, s, ctx) => {
          balanceHandler(m, s);
          if (ctx.offset === '100' || ctx.offset === '250') throw new Error(`bad ${ctx.offset}`);
        },
      },
    );
    await caughtUp(run, log);
    await run.pipeline.stop();
    expect(dead).toEqual([
      ['100', 'bad 100'],
      ['250', 'bad 250'],
    ]);
    expect(await stateOf(state)).toEqual(reference(records.filter((_, i) => i !== 100 && i !== 250)));
  });

  it("refuses 'skip' without a dead-letter callback, and other bad options", async () => {
    const log = new InProcessLog();
    const store = await StateStore.open({ backend: 'memory' });
    const base = { source: new InProcessSource({ log, topics: [] }), store, handler: () => undefined };
    expect(() => new Pipeline({ ...base, errors: { onFailure: 'skip' } })).toThrow(/never dropped silently/);
    expect(() => new Pipeline({ ...base, commitInterval: { records: 0 } })).toThrow(/commitInterval.records/);
    expect(() => new Pipeline({ ...base, emptyStateStart: 'middle' as never })).toThrow(/emptyStateStart/);
    expect(() => new Pipeline({ ...base, handlr: () => undefined } as never)).toThrow(
      /unknown pipeline option "handlr"/,
    );
    expect(() => new Pipeline({ ...base, store: {} as StateStore })).toThrow(/open StateStore/);
    await store.close();
  });

  it('hands partitions over on a rebalance through the shared checkpoints, exactly', async () => {
    const { log, records } = seed(6000);
    const dir = tmpDir('pl');
    const ckpt = path.join(dir, 'checkpoints');
    const a = await startPipeline(log, { state: path.join(dir, 'a'), checkpoints: ckpt });
    await expect.poll(() => a.store.stats().commits, { timeout: 10_000, interval: 1 }).toBeGreaterThan(2);
    // b takes partitions 2 and 3 from a
    const b = await startPipeline(log, { state: path.join(dir, 'b'), checkpoints: ckpt }, {}, []); // b starts with nothing
    await a.source.reassign([
      { topic: TOPIC, partition: 0 },
      { topic: TOPIC, partition: 1 },
    ]); // ...a revokes 2 and 3: commit + checkpoint
    await b.source.reassign([
      { topic: TOPIC, partition: 2 },
      { topic: TOPIC, partition: 3 },
    ]);
    expect(
      b.reports
        .filter((r) => r.source === 'checkpoint')
        .map((r) => r.partition)
        .sort(),
    ).toEqual([2, 3]);
    await caughtUp(a, log);
    await caughtUp(b, log);
    await a.pipeline.stop();
    await b.pipeline.stop();
    const merged = new Map([...(await stateOf(path.join(dir, 'a'))), ...(await stateOf(path.join(dir, 'b')))]);
    // a's store still holds 2 and 3 as they were when revoked: read each partition from its final owner
    const sa = await StateStore.open({ path: path.join(dir, 'a') });
    const sb = await StateStore.open({ path: path.join(dir, 'b') });
    const final = new Map<string, Balance>();
    for (const [s, parts] of [
      [sa, [0, 1]],
      [sb, [2, 3]],
    ] as const) {
      for (const p of parts)
        for (const e of s.partition(TOPIC, p).entries<Balance>()) final.set(e.key as string, e.value);
    }
    await sa.close();
    await sb.close();
    expect(final).toEqual(reference(records));
    expect(merged.size).toBe(final.size);
  });

  it('reports readiness and recoveries to observers', async () => {
    const { log } = seed(100);
    const readiness: boolean[] = [];
    const observer: PipelineObserver = { readinessChanged: (r) => readiness.push(r) };
    const run = await startPipeline(log, { state: path.join(tmpDir('pl'), 'state') }, { observers: [observer] });
    await caughtUp(run, log);
    await run.pipeline.stop();
    expect(readiness).toEqual([true, false]);
  });

  it('an observer that throws in every hook changes nothing: exact state, one warning per hook', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const { log, records } = seed(2000);
      const state = path.join(tmpDir('pl'), 'state');
      const calls: string[] = [];
      // Throws from whatever hook the pipeline calls.
      const broken = new Proxy({} as PipelineObserver, {
        get: (_t, hook) => () => {
          calls.push(String(hook));
          throw new Error(`observer down in ${String(hook)}`);
        },
      });
      const readiness: boolean[] = [];
      const run = await startPipeline(
        log,
        { state },
        { observers: [broken, { readinessChanged: (r) => readiness.push(r) }] },
      );
      await caughtUp(run, log);
      await run.pipeline.stop();
      await run.pipeline.done;
      expect(await stateOf(state)).toEqual(reference(records));
      expect(readiness).toEqual([true, false]); // the next observer still hears every event
      const hooks = new Set(calls);
      expect(calls.filter((h) => h === 'batchProcessed').length).toBeGreaterThan(1);
      const warnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => /pipeline observer/.test(m));
      expect(warnings).toHaveLength(hooks.size);
      expect(warnings.find((m) => m.includes('batchProcessed'))).toMatch(/observer down in batchProcessed/);
    } finally {
      warn.mockRestore();
    }
  });
});
