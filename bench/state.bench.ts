// State store figures: hot get/put against a plain Map, commit against raw lmdb-js.
import * as path from 'node:path';
import { open } from 'lmdb';
import { StateStore } from '../src/index.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

type Acc = { count: number; sum: number };

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  return [
    ...(await hotPath(ctx)),
    ...(await commits(ctx, 1_000)),
    ...(await commits(ctx, ctx.quick ? 10_000 : 100_000)),
  ];
}

async function hotPath(ctx: BenchContext): Promise<BenchResult[]> {
  const N = 10_000;
  const ROUNDS = ctx.quick ? 20 : 200;
  const keys = Array.from({ length: N }, (_, i) => `user-${i}`);
  const values = keys.map((_, i): Acc => ({ count: i, sum: i * 2 }));
  const store = await StateStore.open({ path: path.join(ctx.workDir, 'hot'), cacheEntries: N * 2 });
  const p = store.partition('bench', 0);
  const map = new Map<string, Acc>();
  for (let i = 0; i < N; i++) {
    p.put(keys[i]!, values[i]!);
    map.set(keys[i]!, values[i]!);
  }
  await store.commit();
  let sink = 0;

  // get: every key, ROUNDS times
  const timeGets = (get: (k: string) => Acc | undefined) => () => {
    const t = performance.now();
    for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < N; i++) sink += get(keys[i]!)!.count;
    return performance.now() - t;
  };
  for (let w = 0; w < 3; w++) {
    timeGets((k) => p.get<Acc>(k))();
    timeGets((k) => map.get(k))();
  }
  const gets = await alternate(
    5,
    timeGets((k) => p.get<Acc>(k)),
    timeGets((k) => map.get(k)),
  );

  // put: every key, ROUNDS times (the first put after a commit moves an entry from clean to dirty)
  const timePuts = (put: (k: string, v: Acc) => void, after: () => Promise<unknown>) => async () => {
    const t = performance.now();
    for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < N; i++) put(keys[i]!, values[(i + r) % N]!);
    const ms = performance.now() - t;
    await after();
    return ms;
  };
  const storePut = timePuts(
    (k, v) => p.put(k, v),
    () => store.commit(),
  );
  const mapPut = timePuts(
    (k, v) => map.set(k, v),
    async () => undefined,
  );
  for (let w = 0; w < 3; w++) {
    await storePut();
    await mapPut();
  }
  const puts = await alternate(5, storePut, mapPut);
  if (sink === 42) ctx.log('');
  await store.close();

  const ops = N * ROUNDS;
  const rate = (ms: number) => ops / (ms / 1000) / 1e6;
  ctx.log(`hot get ${rate(gets.subject).toFixed(1)} M/s vs Map ${rate(gets.baseline).toFixed(1)} M/s`);
  ctx.log(`hot put ${rate(puts.subject).toFixed(1)} M/s vs Map ${rate(puts.baseline).toFixed(1)} M/s`);
  return [
    figure('state: hot get on cached keys', rate(gets.subject), 'M ops/s', rate(gets.baseline), 'plain Map.get', true, {
      ratioAtLeast: 0.5,
    }),
    figure('state: hot put on cached keys', rate(puts.subject), 'M ops/s', rate(puts.baseline), 'plain Map.set', true, {
      ratioAtLeast: 0.5,
    }),
  ];
}

async function commits(ctx: BenchContext, n: number): Promise<BenchResult[]> {
  const ROUNDS = n >= 100_000 ? 5 : 30;
  const keys = Array.from({ length: n }, (_, i) => `session-${i}`);
  const store = await StateStore.open({ path: path.join(ctx.workDir, `commit-${n}`), cacheEntries: n * 2 });
  const p = store.partition('bench', 0);
  const raw = open({ path: path.join(ctx.workDir, `raw-${n}.mdb`), noSubdir: true, maxDbs: 4 });
  const rawDb = raw.openDB<Acc, string>({ name: 'p' });
  let round = 0;

  const ours = async () => {
    round++;
    for (let i = 0; i < n; i++) p.put(keys[i]!, { count: round, sum: i + round });
    const t = performance.now();
    await store.commit([{ topic: 'bench', partition: 0, offset: round * n }]);
    return performance.now() - t;
  };
  const baseline = async () => {
    round++;
    const vals = keys.map((_, i): Acc => ({ count: round, sum: i + round }));
    const t = performance.now();
    raw.transactionSync(() => {
      for (let i = 0; i < n; i++) rawDb.putSync(keys[i]!, vals[i]!);
    });
    await raw.flushed;
    return performance.now() - t;
  };
  await ours();
  await baseline();
  const r = await alternate(ROUNDS, ours, baseline);
  await store.close();
  await raw.close();
  const rate = (ms: number) => n / (ms / 1000) / 1000;
  ctx.log(`commit ${n}: ${r.subject.toFixed(1)} ms vs raw lmdb-js ${r.baseline.toFixed(1)} ms`);
  return [
    figure(
      `state: commit of ${n.toLocaleString('en-US')} changed entries`,
      rate(r.subject),
      'k entries/s',
      rate(r.baseline),
      'raw lmdb-js, one transactionSync',
      true,
      { ratioAtLeast: 0.8 },
    ),
  ];
}
