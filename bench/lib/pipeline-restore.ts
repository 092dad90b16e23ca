// Issue 10: a pipeline recovering 4 partitions from a checkpoint into an
// empty store, restoreConcurrency N (the cores, or RESTORE_BENCH_CONCURRENCY)
// against 1 (the default, one partition after another), alternated in one run. Two figures: the time
// until the pipeline is ready (every partition restored), and the time until
// the first record is processed, against the previous behaviour (no record
// processed before every partition is restored: the sequential time to ready).
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type RawEntry,
  type TopicPartition,
} from '../../src/index.js';
import { ScopeCodec } from '../../src/state/key-codec.js';
import { encodeValue } from '../../src/state/value-codec.js';
import { figure, median, type BenchContext, type BenchResult } from './result.js';

const small = (i: number) => ({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` });
const TOPIC = 'events';

export async function pipelineRestore(ctx: BenchContext, perPartition: number): Promise<BenchResult[]> {
  const partitions = 4;
  const parallel = Number(process.env.RESTORE_BENCH_CONCURRENCY ?? availableParallelism());
  const label = `${partitions} partitions x ${perPartition.toLocaleString('en-US')} entries of ~60 B`;
  const base = path.join(ctx.workDir, `pipeline-restore-${perPartition}`);
  const tps: TopicPartition[] = Array.from({ length: partitions }, (_, p) => ({ topic: TOPIC, partition: p }));
  // State at offset 0 of each partition, checkpointed; the log holds a few records after it.
  const store = await StateStore.open({ path: path.join(base, 'state'), cacheEntries: 1000, sweepIntervalMs: 0 });
  const codec = new ScopeCodec('');
  for (const tp of tps) {
    function* entries(): Iterable<RawEntry> {
      for (let j = 0; j < perPartition; j++) {
        const i = tp.partition * perPartition + j;
        yield { key: codec.encode(`user-${String(i).padStart(8, '0')}`), value: encodeValue(small(i), 0, 0) };
      }
    }
    await store.replacePartition(tp, entries(), '0');
  }
  const ckDir = path.join(base, 'ck');
  const writer = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: ckDir }) });
  const snap = await store.snapshot();
  await writer.write(snap);
  snap.release();
  await writer.close();
  await store.close();
  const log = new InProcessLog();
  log.createTopic(TOPIC, partitions);
  log.append(
    TOPIC,
    tps.flatMap((tp) =>
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(i), partition: tp.partition })),
    ),
  );

  let k = 0;
  const once = async (concurrency: number): Promise<{ ready: number; first: number }> => {
    const dir = path.join(base, `r-${k++}`);
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const repository = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: ckDir }) });
    let first: number | undefined;
    let ready: number | undefined;
    let processed = 0;
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const t = performance.now();
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: [TOPIC] }),
      store: target,
      handler: (m, state) => state.put(`seen-${m.offset}`, 1),
      checkpoints: { repository, coordinator: { intervalMs: 3_600_000 } },
      restoreConcurrency: concurrency,
      observers: [
        {
          batchProcessed: (_tp, n) => {
            first ??= performance.now() - t;
            processed += n;
            if (processed === partitions * 10 && ready !== undefined) settle();
          },
          readinessChanged: (r) => {
            if (!r) return;
            ready = performance.now() - t;
            if (processed === partitions * 10) settle();
          },
        },
      ],
    });
    await pipeline.start();
    await done;
    await pipeline.abort(); // no final checkpoint: every run restores the same one
    await repository.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return { ready: ready!, first: first! };
  };

  await once(parallel); // warm: worker started, code compiled
  const rounds = Number(process.env.RESTORE_BENCH_ROUNDS ?? (ctx.quick ? 2 : 3));
  const par: Array<{ ready: number; first: number }> = [];
  const seq: Array<{ ready: number; first: number }> = [];
  for (let r = 0; r < rounds; r++) {
    par.push(await once(parallel));
    seq.push(await once(1));
  }
  const m = (xs: Array<{ ready: number; first: number }>, f: 'ready' | 'first') => median(xs.map((x) => x[f]));
  ctx.log(
    `${label}: ready after ${m(par, 'ready').toFixed(0)} ms with restoreConcurrency ${parallel}, ` +
      `${m(seq, 'ready').toFixed(0)} ms with 1; first record processed after ${m(par, 'first').toFixed(0)} / ` +
      `${m(seq, 'first').toFixed(0)} ms (runs: ${par.map((x) => x.ready.toFixed(0)).join('/')} vs ${seq.map((x) => x.ready.toFixed(0)).join('/')})`,
  );
  fs.rmSync(base, { recursive: true, force: true });
  return [
    figure(
      `restore: pipeline ready after restoring ${label}, restoreConcurrency ${parallel}`,
      m(par, 'ready'),
      'ms',
      m(seq, 'ready'),
      'restoreConcurrency 1 (the default: one partition after another)',
      false,
      { ratioAtLeast: 1 },
    ),
    figure(
      `restore: first record processed while restoring ${label}, restoreConcurrency 1 (default)`,
      m(seq, 'first'),
      'ms',
      m(seq, 'ready'),
      'no record before every partition is restored (before issue 10: the time to ready)',
      false,
      { ratioAtLeast: 2 },
    ),
    figure(
      `restore: first record processed while restoring ${label}, restoreConcurrency ${parallel}`,
      m(par, 'first'),
      'ms',
      m(seq, 'ready'),
      'no record before every partition is restored (before issue 10: the time to ready)',
      false,
    ),
  ];
}
