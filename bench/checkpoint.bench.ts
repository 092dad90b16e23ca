// Checkpoint figures: write and restore throughput against raw zstd-napi on
// the same bytes, a 1,000,000-entry checkpoint and restore against LMDB's
// physical copy, and the main thread's event-loop delay while writing.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { compress, decompress } from 'zstd-napi';
import { RecordPacker } from '../src/checkpoint/records.js';
import { CheckpointRepository, LocalDirectoryStorage, StateStore, type TopicPartition } from '../src/index.js';
import { LMDB_FILE } from '../src/state/lmdb-backend.js';
import type { RawEntry } from '../src/state/backend.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { alternate, figure, median, type BenchContext, type BenchResult } from './lib/result.js';

const LEVEL = 3;
const PARTITIONS = 4;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const small = ctx.quick ? 100_000 : 1_000_000;
  const large = ctx.quick ? 10_000 : 100_000;
  const out: BenchResult[] = [];
  out.push(...(await dataset(ctx, `${fmt(small)} entries of ~60 B`, small, smallValue, true)));
  out.push(...(await dataset(ctx, `${fmt(large)} entries of ~1 KB`, large, largeValue, false)));
  return out;
}

type ValueFn = (i: number, noise: Buffer) => unknown;

// Per-key aggregates, the typical consumer state: ~60 bytes stored.
const smallValue: ValueFn = (i) => ({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` });

// Sessions: a list of recent events and a little entropy, ~1 KB stored.
const WORDS = ['view', 'click', 'search', 'cart', 'checkout', 'login', 'logout', 'scroll', 'share', 'like'];
const largeValue: ValueFn = (i, noise) => {
  const events = [];
  for (let j = 0; j < 24; j++)
    events.push({ t: 1_700_000_000_000 + i * 13 + j * 977, e: WORDS[(i * 31 + j) % 10], n: (i * j) % 1000 });
  const o = (i * 7919) % (noise.length - 16);
  return { user: `u${i % 50_000}`, count: i % 97, events, salt: noise.subarray(o, o + 16) };
};

async function dataset(
  ctx: BenchContext,
  label: string,
  n: number,
  value: ValueFn,
  full: boolean,
): Promise<BenchResult[]> {
  const base = path.join(ctx.workDir, `ck-${n}`);
  const store = await StateStore.open({ path: path.join(base, 'state'), cacheEntries: 1000, sweepIntervalMs: 0 });
  const tps: TopicPartition[] = Array.from({ length: PARTITIONS }, (_, p) => ({ topic: 'events', partition: p }));
  const codec = new ScopeCodec('');
  const noise = randomBytes(1 << 20);
  const per = Math.ceil(n / PARTITIONS);
  for (const tp of tps) {
    function* entries(): Iterable<RawEntry> {
      for (let j = 0; j < per; j++) {
        const i = tp.partition * per + j;
        yield { key: codec.encode(`user-${String(i).padStart(8, '0')}`), value: encodeValue(value(i, noise), 0, 0) };
      }
    }
    await store.replacePartition(tp, entries(), String(per));
  }

  // The exact record stream a checkpoint compresses, for the zstd baselines.
  const snap = await store.snapshot();
  const packer = new RecordPacker();
  for (const tp of tps) for (const e of snap.entries(tp)) packer.add(e.key, e.value);
  const raw = Buffer.concat(packer.finish());
  const compressed = compress(raw, { compressionLevel: LEVEL });
  const rawMB = raw.length / 1e6;
  ctx.log(`${label}: ${rawMB.toFixed(1)} MB of records, ${(compressed.length / 1e6).toFixed(1)} MB at zstd ${LEVEL}`);

  const ckDir = path.join(base, 'checkpoints');
  const repo = new CheckpointRepository({
    storage: new LocalDirectoryStorage({ path: ckDir }),
    compressionLevel: LEVEL,
  });
  const rounds = ctx.quick ? 2 : 5;

  // Write: snapshot taken, so the figure is the checkpoint itself.
  let lastId = '';
  const write = async () => {
    fs.rmSync(ckDir, { recursive: true, force: true });
    const t = performance.now();
    const info = await repo.write(snap);
    const ms = performance.now() - t;
    lastId = info!.id;
    return ms;
  };
  const zstdCompress = () => {
    const t = performance.now();
    compress(raw, { compressionLevel: LEVEL });
    return performance.now() - t;
  };
  await write(); // starts the worker
  const w = await alternate(rounds, write, zstdCompress);
  const info = await repo.get(lastId);

  // Restore's first half: read, hash, decrypt, decompress and check every
  // record of every segment (verify() runs exactly that code).
  const verify = async () => {
    const t = performance.now();
    const [v] = await repo.verify(lastId);
    if (v!.status !== 'valid') throw new Error(`verify: ${v!.status}`);
    return performance.now() - t;
  };
  const zstdDecompress = () => {
    const t = performance.now();
    decompress(compressed);
    return performance.now() - t;
  };
  const r = await alternate(rounds, verify, zstdDecompress);
  // The part of a checkpoint no worker can take: walking the LMDB snapshot on
  // the main thread (lmdb-js getRange, one object and two buffers per entry).
  const iterate = () => {
    const t = performance.now();
    let bytes = 0;
    for (const tp of tps) for (const e of snap.entries(tp)) bytes += e.key.length + e.value.length;
    if (bytes === 0) throw new Error('empty');
    return performance.now() - t;
  };
  const it = await alternate(rounds, write, iterate);
  const results = [
    figure(
      `checkpoint: write throughput, ${label}`,
      rawMB / (w.subject / 1000),
      'MB/s',
      rawMB / (w.baseline / 1000),
      `zstd-napi compress level ${LEVEL}, same bytes`,
      true,
      {
        ratioAtLeast: 0.7,
      },
    ),
    figure(
      `checkpoint: restore read+verify+decode throughput, ${label}`,
      rawMB / (r.subject / 1000),
      'MB/s',
      rawMB / (r.baseline / 1000),
      'zstd-napi decompress, same bytes',
      true,
      {
        ratioAtLeast: 0.7,
      },
    ),
  ];
  results.push(
    figure(
      `checkpoint: write time against walking the same snapshot, ${label}`,
      it.subject,
      'ms',
      it.baseline,
      'bare iteration of the LMDB snapshot (main thread)',
      false,
    ),
  );
  ctx.log(
    `write ${w.subject.toFixed(0)} ms vs zstd ${w.baseline.toFixed(0)} ms, vs bare iteration ${it.baseline.toFixed(0)} ms; ` +
      `verify ${r.subject.toFixed(0)} ms vs unzstd ${r.baseline.toFixed(0)} ms`,
  );

  if (full) results.push(...(await endToEnd(ctx, label, store, repo, snap, lastId, info.storedBytes, base, tps)));
  snap.release();
  await repo.close();
  await store.close();
  return results;
}

// Whole checkpoint and restore of the large store against LMDB's physical
// copy, restore against raw insertion, and the event loop while writing.
async function endToEnd(
  ctx: BenchContext,
  label: string,
  store: StateStore,
  repo: CheckpointRepository,
  snap: Awaited<ReturnType<StateStore['snapshot']>>,
  id: string,
  storedBytes: number,
  base: string,
  tps: TopicPartition[],
): Promise<BenchResult[]> {
  const rounds = ctx.quick ? 2 : 3;
  let backupBytes = 0;
  let k = 0;
  // lmdb-js writes the copy as one file at this path, which must not exist
  // yet (StateStore.backup's "empty directory" wording notwithstanding).
  const backupFile = path.join(base, 'backup.mdb');
  const physicalCopy = async () => {
    fs.rmSync(backupFile, { force: true });
    const t = performance.now();
    await store.backup(backupFile);
    const ms = performance.now() - t;
    backupBytes = fs.statSync(backupFile).size;
    return ms;
  };
  const checkpoint = async () => {
    const t = performance.now();
    const s = await store.snapshot();
    try {
      await repo.write(s);
    } finally {
      s.release();
    }
    return performance.now() - t;
  };
  const c = await alternate(rounds, checkpoint, physicalCopy);

  // Restores into a fresh, empty store each round.
  const fresh = () => path.join(base, `restore-${k++}`);
  const logical = async () => {
    const dir = fresh();
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const t = performance.now();
    const res = await repo.restore(target, { id });
    const ms = performance.now() - t;
    if (res.restored.length !== tps.length) throw new Error('restore incomplete');
    await target.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const physical = async () => {
    const dir = fresh();
    fs.mkdirSync(dir, { recursive: true });
    const t = performance.now();
    fs.copyFileSync(backupFile, path.join(dir, LMDB_FILE));
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const ms = performance.now() - t;
    if (target.offsets().length !== tps.length) throw new Error('physical restore incomplete');
    await target.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const rs = await alternate(rounds, logical, physical);

  // The floor of any logical restore: the same entries inserted from memory.
  const entries = tps.map((tp) => [...snap.entries(tp)]);
  const insert = async () => {
    const dir = fresh();
    const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
    const t = performance.now();
    for (let i = 0; i < tps.length; i++) await target.replacePartition(tps[i]!, entries[i]!, '1');
    const ms = performance.now() - t;
    await target.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const ins = await alternate(rounds, logical, insert);

  // Event-loop delay on the main thread: idle, then while checkpointing.
  const p99s: number[] = [];
  const idle: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const h = monitorEventLoopDelay({ resolution: 2 });
    h.enable();
    const ms = await checkpoint();
    h.disable();
    p99s.push(h.percentile(99) / 1e6);
    const hIdle = monitorEventLoopDelay({ resolution: 2 });
    hIdle.enable();
    await sleep(ms);
    hIdle.disable();
    idle.push(hIdle.percentile(99) / 1e6);
    ctx.log(
      `event loop during checkpoint: p99 ${p99s.at(-1)!.toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms; idle p99 ${idle.at(-1)!.toFixed(1)} ms`,
    );
  }
  ctx.log(
    `checkpoint ${c.subject.toFixed(0)} ms vs backup ${c.baseline.toFixed(0)} ms; restore ${rs.subject.toFixed(0)} ms vs physical ${rs.baseline.toFixed(0)} ms, insert ${ins.baseline.toFixed(0)} ms`,
  );
  return [
    figure(
      `checkpoint: time to checkpoint ${label} (4 partitions)`,
      c.subject,
      'ms',
      c.baseline,
      'LMDB physical copy (store.backup)',
      false,
    ),
    figure(
      `checkpoint: time to restore ${label} into LMDB`,
      rs.subject,
      'ms',
      rs.baseline,
      'physical restore (copy the backup file, open)',
      false,
    ),
    figure(
      `checkpoint: restore ${label} against inserting the same entries`,
      ins.subject,
      'ms',
      ins.baseline,
      'StateStore.replacePartition from memory',
      false,
    ),
    figure(
      `checkpoint: stored size of ${label}`,
      storedBytes / 1e6,
      'MB',
      backupBytes / 1e6,
      'LMDB physical copy',
      false,
    ),
    figure(
      `checkpoint: event-loop delay p99 while writing ${label}`,
      median(p99s),
      'ms',
      median(idle),
      'p99 with no checkpoint running',
      false,
      { valueBelow: 50 },
    ),
  ];
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
