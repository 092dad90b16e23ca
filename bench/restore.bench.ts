// Restore figures (issue 10): a checkpoint of N small entries restored end to
// end into an empty store, against copying and opening an LMDB physical copy
// of the same state; the main thread's longest event-loop stall during the
// restore; and the memory the restore holds (peak RSS above the level before
// it, from /proc/self/status VmHWM after resetting it).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  CheckpointRepository,
  LMDB_FILE,
  LocalDirectoryStorage,
  StateStore,
  type RawEntry,
  type TopicPartition,
} from '../src/index.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const small = (i: number) => ({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` });

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const n = Number(process.env.RESTORE_BENCH_ENTRIES ?? (ctx.quick ? 100_000 : 1_000_000));
  const out: BenchResult[] = [];
  out.push(...(await scenario(ctx, n, 4)));
  if (process.env.RESTORE_BENCH_ONE_PARTITION !== '0') out.push(...(await scenario(ctx, n, 1)));
  return out;
}

async function scenario(ctx: BenchContext, n: number, partitions: number): Promise<BenchResult[]> {
  const label = `${n.toLocaleString('en-US')} entries of ~60 B in ${partitions} partition${partitions > 1 ? 's' : ''}`;
  const base = path.join(ctx.workDir, `restore-${n}-${partitions}`);
  const store = await StateStore.open({ path: path.join(base, 'state'), cacheEntries: 1000, sweepIntervalMs: 0 });
  const tps: TopicPartition[] = Array.from({ length: partitions }, (_, p) => ({ topic: 'events', partition: p }));
  const codec = new ScopeCodec('');
  const per = Math.ceil(n / partitions);
  for (const tp of tps) {
    function* entries(): Iterable<RawEntry> {
      for (let j = 0; j < per; j++) {
        const i = tp.partition * per + j;
        yield { key: codec.encode(`user-${String(i).padStart(8, '0')}`), value: encodeValue(small(i), 0, 0) };
      }
    }
    await store.replacePartition(tp, entries(), String(per));
  }
  const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: path.join(base, 'ck') }) });
  const snap = await store.snapshot();
  const info = await repo.write(snap);
  snap.release();
  const backupFile = path.join(base, 'backup.mdb');
  await store.backup(backupFile);
  await store.close();

  let k = 0;
  const stalls: number[] = [];
  const held: number[] = [];
  const logical = async () => {
    const dir = path.join(base, `r-${k++}`);
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const h = monitorEventLoopDelay({ resolution: 1 });
    const probe = new Probe();
    h.enable();
    const t = performance.now();
    const res = await repo.restore(target, { id: info!.id });
    const ms = performance.now() - t;
    h.disable();
    probe.stop();
    stalls.push(Math.max(h.max / 1e6, probe.maxGapMs));
    held.push(probe.heldBytes / 1e6);
    if (res.restored.length !== partitions) throw new Error('restore incomplete');
    if (target.offsets().length !== partitions) throw new Error('restore lost offsets');
    await target.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const physical = async () => {
    const dir = path.join(base, `r-${k++}`);
    fs.mkdirSync(dir, { recursive: true });
    const t = performance.now();
    fs.copyFileSync(backupFile, path.join(dir, LMDB_FILE));
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const ms = performance.now() - t;
    if (target.offsets().length !== partitions) throw new Error('physical restore incomplete');
    await target.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  await logical(); // warm: worker started, code compiled
  stalls.length = 0;
  held.length = 0;
  const rs = await alternate(ctx.quick ? 2 : 3, logical, physical);
  ctx.log(
    `${label}: restore ${rs.subject.toFixed(0)} ms vs physical ${rs.baseline.toFixed(0)} ms; ` +
      `max stall ${stalls.map((s) => s.toFixed(0)).join('/')} ms; held above start ${held.map((h) => h.toFixed(0)).join('/')} MB`,
  );
  // Memory in a process of its own (see lib/restore-child.ts).
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(here, 'lib', 'restore-child.ts'),
      path.join(base, 'ck'),
      info!.id,
      path.join(base, 'child'),
    ],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`restore child failed: ${child.stderr}`);
  const anonMB = (JSON.parse(child.stdout) as { peakAboveStartBytes: number }).peakAboveStartBytes / 1e6;
  ctx.log(`${label}: anonymous memory (RssAnon) of a restore in its own process: ${anonMB.toFixed(0)} MB above start`);
  await repo.close();
  fs.rmSync(base, { recursive: true, force: true });
  return [
    figure(
      `restore: time to restore ${label}`,
      rs.subject,
      'ms',
      rs.baseline,
      'physical restore (copy an LMDB backup file, open)',
      false,
      { ratioAtLeast: 0.25 },
    ),
    figure(
      `restore: longest event-loop stall while restoring ${label}`,
      Math.max(...stalls),
      'ms',
      50,
      'the goal (50 ms)',
      false,
      { valueBelow: 50 },
    ),
    figure(
      `restore: peak anonymous memory (RssAnon) above the level before restoring ${label}, own process`,
      anonMB,
      'MB',
      info!.rawBytes / 1e6,
      'raw record bytes of the checkpoint',
      false,
    ),
  ];
}

// Samples every 2 ms: the longest gap between samples beyond the interval
// (an event-loop stall), and the peak of the memory JavaScript holds (V8 heap
// plus ArrayBuffers: the decoded chunks live there) above its level at the
// start. RSS is no measure here: LMDB's map pages count in it, and memory
// freed by earlier rounds stays in it.
class Probe {
  maxGapMs = 0;
  heldBytes = 0;
  private readonly start = held();
  private last = performance.now();
  private readonly timer = setInterval(() => this.sample(), 2);

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = performance.now();
    this.maxGapMs = Math.max(this.maxGapMs, now - this.last - 2);
    this.last = now;
    this.heldBytes = Math.max(this.heldBytes, held() - this.start);
  }
}

function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
