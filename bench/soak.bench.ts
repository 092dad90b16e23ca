// Memory soak: 10M distinct keys (1M with --quick) through a store with
// cacheEntries: 100,000; heap and anonymous RSS at the end against the same
// figures once the cache is first full. `npm run bench -- --only soak`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { StateStore } from '../src/index.js';
import { figure, type BenchContext, type BenchResult } from './lib/result.js';

const CACHE = 100_000;
const COMMIT_EVERY = 50_000;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

interface Memory {
  heapMb: number;
  rssMb: number;
  rssAnonMb: number;
}

function memory(): Memory {
  gc();
  gc();
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const mb = (b: number) => b / 2 ** 20;
  return { heapMb: mb(process.memoryUsage().heapUsed), rssMb: mb(process.memoryUsage().rss), rssAnonMb: anonKb / 1024 };
}

const show = (m: Memory) =>
  `heap ${m.heapMb.toFixed(1)} MB, RSS ${m.rssMb.toFixed(0)} MB (anonymous ${m.rssAnonMb.toFixed(0)} MB)`;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const keys = ctx.quick ? 1_000_000 : 10_000_000;
  const start = memory();
  const store = await StateStore.open({
    path: path.join(ctx.workDir, 'soak'),
    cacheEntries: CACHE,
    sweepIntervalMs: 0,
  });
  const p = store.partition('soak', 0);
  let full: Memory | undefined;
  const began = performance.now();
  for (let i = 0; i < keys; i++) {
    p.put(`user-${i}`, { count: 1, sum: i, last: 'abcdefgh' });
    if ((i + 1) % COMMIT_EVERY === 0) {
      await store.commit([{ topic: 'soak', partition: 0, offset: i + 1 }]);
      // Reads of keys long evicted: every one is a miss that loads it again.
      for (let j = 0; j < 1000; j++) p.get(`user-${(i * 7919 + j * 104_729) % (i + 1)}`);
      if (i + 1 === 2 * CACHE) full = memory();
    }
  }
  await store.commit([{ topic: 'soak', partition: 0, offset: keys }]);
  const seconds = (performance.now() - began) / 1000;
  const cached = store.stats().cachedEntries;
  const end = memory();
  await store.close();
  ctx.log(`soak: ${keys.toLocaleString('en')} keys in ${seconds.toFixed(1)} s, ${cached} cached at the end`);
  ctx.log(`soak: at start ${show(start)}`);
  ctx.log(`soak: cache full ${show(full!)}`);
  ctx.log(`soak: at end ${show(end)}`);
  const n = ctx.quick ? '1M' : '10M';
  return [
    figure(
      `soak: heap used after ${n} distinct keys, cacheEntries 100,000`,
      end.heapMb,
      'MB',
      full!.heapMb,
      'heap used once the cache was first full (200k keys)',
      false,
      {
        ratioAtLeast: 0.8,
      },
    ),
    figure(
      `soak: anonymous RSS after ${n} distinct keys, cacheEntries 100,000`,
      end.rssAnonMb,
      'MB',
      full!.rssAnonMb,
      'anonymous RSS once the cache was first full (200k keys)',
      false,
      {
        ratioAtLeast: 0.8,
      },
    ),
  ];
}
