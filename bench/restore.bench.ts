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
  LocalDirectoryStorage,
  StateStore,
  type RawEntry,
  type TopicPartition,
} from '../src/index.js';
import { LMDB_FILE } from '../src/state/lmdb-backend.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { pipelineRestore } from './lib/pipeline-restore.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const small = (i: number) => ({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` });

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const n = Number(process.env.RESTORE_BENCH_ENTRIES ?? (ctx.quick ? 100_000 : 1_000_000));
  const out: BenchResult[] = [];
  // RESTORE_BENCH_PARTITIONS=1 runs only the one-partition case (e.g. with
  // RESTORE_BENCH_ENTRIES=4000000 to see memory stay flat as a partition grows).
  // RESTORE_BENCH_PARTITIONS=pipeline runs only the pipeline's parallel recovery (lib/pipeline-restore.ts).
  const only = process.env.RESTORE_BENCH_PARTITIONS;
  if (only === undefined || only === '4') out.push(...(await scenario(ctx, n, 4)));
  if (only === undefined || only === '1') out.push(...(await scenario(ctx, n, 1)));
  if (only === undefined || only === 'pipeline')
    out.push(
      ...(await pipelineRestore(
        ctx,
        Number(process.env.RESTORE_BENCH_PER_PARTITION ?? (ctx.quick ? 50_000 : 250_000)),
      )),
    );
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
  const stallCpu: number[] = [];
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
    stallCpu.push(probe.maxGapCpuMs);
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
  stallCpu.length = 0;
  held.length = 0;
  const rs = await alternate(Number(process.env.RESTORE_BENCH_ROUNDS ?? (ctx.quick ? 2 : 3)), logical, physical);
  ctx.log(
    `${label}: restore ${rs.subject.toFixed(0)} ms vs physical ${rs.baseline.toFixed(0)} ms; ` +
      `max stall ${stalls.map((s) => s.toFixed(0)).join('/')} ms (main-thread CPU in the worst gap ${stallCpu.map((s) => s.toFixed(0)).join('/')} ms); held above start ${held.map((h) => h.toFixed(0)).join('/')} MB`,
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
      `restore: most main-thread CPU in one event-loop gap while restoring ${label}`,
      Math.max(...stallCpu),
      'ms',
      50,
      'the goal (50 ms)',
      false,
      { valueBelow: 50 },
    ),
    figure(
      `restore: longest event-loop stall (wall) while restoring ${label}`,
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
      // A constant, not the partition's size: ~22 MiB referenced, plus garbage V8 has not collected yet.
      { valueBelow: 128 },
    ),
  ];
}

// Samples every 2 ms: the longest gap between samples beyond the interval
// (an event-loop stall as the process saw it, which on a loaded machine
// includes time other processes held the CPU), the most CPU the main thread
// itself used within one gap (/proc/self/task/<pid>/stat, 10 ms ticks: the
// part of a stall that is tidemark's own work), and the peak of the memory
// JavaScript holds (V8 heap plus ArrayBuffers) above its level at the start.
class Probe {
  maxGapMs = 0;
  maxGapCpuMs = 0;
  heldBytes = 0;
  private readonly start = held();
  private last = performance.now();
  private lastCpu = mainThreadCpuMs();
  private readonly timer = setInterval(() => this.sample(), 2);

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    const gap = now - this.last - 2;
    this.maxGapMs = Math.max(this.maxGapMs, gap);
    this.maxGapCpuMs = Math.max(this.maxGapCpuMs, Math.min(cpu - this.lastCpu, now - this.last));
    this.last = now;
    this.lastCpu = cpu;
    this.heldBytes = Math.max(this.heldBytes, held() - this.start);
  }
}

// utime + stime of the main thread (its tid is the pid), in ms.
function mainThreadCpuMs(): number {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
