// Incremental checkpoints (issue 10): after 1% of N keys changed, the next
// checkpoint (a delta segment per partition, chained to the last one)
// against a full checkpoint of the same state, in time and bytes; and a
// restore through a chain against a restore of the same state in full.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CheckpointRepository,
  LocalDirectoryStorage,
  type RawEntry,
  StateStore,
  type TopicPartition,
} from '../src/index.js';
import { CheckpointCoordinator } from '../src/checkpoint/coordinator.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;
const LEVEL = 3;
const SHARE = 0.01;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const n = ctx.quick ? 100_000 : Number(process.env.TIDEMARK_BENCH_INCREMENTAL_N ?? 1_000_000);
  const label = `${n.toLocaleString('en-US')} entries of ~60 B, 1% changed`;
  const base = path.join(ctx.workDir, `inc-${n}`);
  const store = await StateStore.open({ path: path.join(base, 'state'), cacheEntries: 100_000, sweepIntervalMs: 0 });
  const tps: TopicPartition[] = Array.from({ length: PARTITIONS }, (_, p) => ({ topic: 'events', partition: p }));
  const codec = new ScopeCodec('');
  const per = Math.ceil(n / PARTITIONS);
  const keyOf = (i: number) => `user-${String(i).padStart(8, '0')}`;
  const stateOf = (i: number, r: number) => ({
    count: (i + r) % 97,
    sum: i * 3 + r,
    last: 1_700_000_000_000 + i * 7,
    tag: `t${i % 13}`,
  });
  for (const tp of tps) {
    function* entries(): Iterable<RawEntry> {
      for (let j = 0; j < per; j++) {
        const i = tp.partition * per + j;
        yield { key: codec.encode(keyOf(i)), value: encodeValue(stateOf(i, 0), 0, 0) };
      }
    }
    await store.replacePartition(tp, entries(), String(per));
  }
  const repo = new CheckpointRepository({
    storage: new LocalDirectoryStorage({ path: path.join(base, 'chain') }),
    compressionLevel: LEVEL,
  });
  const fullDir = path.join(base, 'full');
  const fullRepo = new CheckpointRepository({
    storage: new LocalDirectoryStorage({ path: fullDir }),
    compressionLevel: LEVEL,
  });
  // Retention off: the chain stays for the restore figure (maxIncrements bounds it).
  const co = new CheckpointCoordinator(store, repo, { retention: false, maxIncrements: 100, maxIncrementShare: 100 });
  const first = (await co.checkpoint())!; // the full base (the store tracks nothing before it)
  ctx.log(`${label}: base checkpoint ${(first.storedBytes / 1e6).toFixed(1)} MB`);

  let round = 0;
  let offset = per;
  // 1% of the keys, spread over every partition: 90% rewritten, 10% deleted.
  const change = async () => {
    round++;
    offset++;
    const changes = Math.round(n * SHARE);
    for (let c = 0; c < changes; c++) {
      const i = (c * 7919 + round * 104_729) % (per * PARTITIONS);
      const p = store.partition('events', Math.floor(i / per));
      if (c % 10 === 9) p.delete(keyOf(i));
      else p.put(keyOf(i), stateOf(i, round));
    }
    await store.commit(tps.map((tp) => ({ ...tp, offset })));
  };
  const bytes = { delta: [] as number[], full: [] as number[] };
  const incremental = async () => {
    await change();
    const t = performance.now();
    const info = (await co.checkpoint())!;
    const ms = performance.now() - t;
    if (info.partitions.some((p) => p.kind !== 'delta')) throw new Error('expected a delta checkpoint');
    bytes.delta.push(info.storedBytes);
    return ms;
  };
  const full = async () => {
    fs.rmSync(fullDir, { recursive: true, force: true });
    const t = performance.now();
    const snap = await store.snapshot();
    try {
      const info = (await fullRepo.write(snap))!;
      bytes.full.push(info.storedBytes);
    } finally {
      snap.release();
    }
    return performance.now() - t;
  };
  const rounds = ctx.quick ? 2 : 5;
  const w = await alternate(rounds, incremental, full);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

  // Restore: the chain (full base + `rounds` deltas) against the same state in full.
  const restoreFrom = async (r: CheckpointRepository) => {
    const target = await StateStore.open({ path: fs.mkdtempSync(path.join(base, 'restore-')), sweepIntervalMs: 0 });
    const t = performance.now();
    const res = await r.restore(target);
    const ms = performance.now() - t;
    if (res.restored.length !== PARTITIONS) throw new Error('restore incomplete');
    await target.close();
    return ms;
  };
  const rr = await alternate(
    ctx.quick ? 1 : 2,
    () => restoreFrom(repo),
    () => restoreFrom(fullRepo),
  );
  const chainLength = (await repo.list())[0]!.partitions[0]!.depth!;
  await co.stop();
  await repo.close();
  await fullRepo.close();
  await store.close();
  return [
    figure(
      `checkpoint, incremental: time after 1% of keys changed, ${label}`,
      w.subject,
      'ms',
      w.baseline,
      'a full checkpoint of the same state (ratio = full / incremental; goal <= 5% of it)',
      false,
      { ratioAtLeast: 20 },
    ),
    figure(
      `checkpoint, incremental: stored bytes after 1% of keys changed, ${label}`,
      med(bytes.delta),
      'bytes',
      med(bytes.full),
      'a full checkpoint of the same state (ratio = full / incremental; goal <= 5% of it)',
      false,
      { ratioAtLeast: 20 },
    ),
    figure(
      `restore through a chain (full + ${chainLength} deltas of 1%), ${label}`,
      rr.subject,
      'ms',
      rr.baseline,
      'restore of the same state from one full checkpoint',
      false,
    ),
  ];
}
