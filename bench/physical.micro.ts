// Probe for issue 10's physical direction (docs/PHYSICAL-SEGMENTS.md): one
// LMDB environment per partition, a checkpoint as a compacted copy of that
// environment (zstd), a restore as decompressing that file and opening it
// (also from 8 MiB frames in two worker threads), writes in worker threads,
// and what per-partition environments cost write-through commits. The
// physical side uses lmdb-js, zstd-napi and src/checkpoint's SegmentEncoder
// directly; the logical side is today's CheckpointRepository and StateStore.
//
//   npx tsx bench/physical.micro.ts
//
// Sizes (environment variables): PHYS_ENTRIES (1,000,000 entries of ~60 B,
// the checkpoint bench's small data set), PHYS_ROUNDS (3 alternating rounds
// after a warm-up, medians), PHYS_COMMIT_MS (1000: how long each commit-rate
// measurement runs), PHYS_DIR (scratch parent, default the OS temp dir; the
// probe's own directory under it is removed at the end). Not run by
// bench/run.ts (its name does not end in .bench.ts).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { open, type Database, type RootDatabase } from 'lmdb';
import { compress, decompress } from 'zstd-napi';
import zstd from 'zstd-napi/binding.js';
import { RecordPacker } from '../src/checkpoint/records.js';
import { SegmentEncoder } from '../src/checkpoint/segment-codec.js';
import { CheckpointRepository, LocalDirectoryStorage, StateStore, type TopicPartition } from '../src/index.js';
import type { RawEntry } from '../src/state/backend.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { alternate, median } from './lib/result.js';

const N = Number(process.env.PHYS_ENTRIES ?? 1_000_000);
const ROUNDS = Number(process.env.PHYS_ROUNDS ?? 3);
const COMMIT_MS = Number(process.env.PHYS_COMMIT_MS ?? 1000);
const LEVEL = 3;
const PARTITIONS = 4;
const CHUNK = 1 << 20; // LocalDirectoryStorage's reads, the record chunks' size
// Records per main-thread write transaction in (c)(i): about one 1 MiB chunk
// of ~70-byte records, as the restore executor applies them.
const RECORDS_PER_TXN = 16_384;
// lmdb-js transaction flags the restore's staging uses (lmdb-backend.ts STAGING_TXN).
const STAGING_TXN = 1 | 2 | 0x10000;
const APPEND = { append: true };
const TOPIC = 'events';

const work = fs.mkdtempSync(path.join(process.env.PHYS_DIR ?? os.tmpdir(), 'tidemark-phys-'));
const say = (s: string): void => console.log(s);
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const mb = (x: number): string => `${(x / 1e6).toFixed(1)} MB`;
const ratio = (x: number): string => x.toFixed(3);

type BinaryDb = Database<Buffer, Buffer>;
type OffsetKey = [string, number];

/** Opens an environment the way lmdb-backend.ts does (one file, overlappingSync). */
function openEnv(file: string, maxDbs = 2 * PARTITIONS + 4): RootDatabase {
  return open({ path: file, noSubdir: true, maxDbs, overlappingSync: true });
}
const binaryDb = (root: RootDatabase, name: string): BinaryDb =>
  root.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
const offsetsDb = (root: RootDatabase): Database<string | null, OffsetKey> =>
  root.openDB<string | null, OffsetKey>({ name: 'offsets', encoding: 'msgpack' });
const dbName = (p: number): string => `p:${TOPIC}:${p}`;

function fsyncFile(fd: number): void {
  fs.fsyncSync(fd);
}
async function removeEnv(root: RootDatabase, file: string): Promise<void> {
  await root.close();
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}-lock`, { force: true });
}

// ---------------------------------------------------------------- the data
const codec = new ScopeCodec('');
const keys: Buffer[] = new Array(N);
const values: Buffer[] = new Array(N);
for (let i = 0; i < N; i++) {
  keys[i] = codec.encode(`user-${String(i).padStart(8, '0')}`);
  values[i] = encodeValue({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` }, 0, 0);
}
const packer = new RecordPacker();
for (let i = 0; i < N; i++) packer.add(keys[i]!, values[i]!);
const raw = Buffer.concat(packer.finish());
const OFFSET = String(N);
say(
  `# physical probe: ${N.toLocaleString('en-US')} entries, ${mb(raw.length)} of records; ` +
    `${ROUNDS} rounds; node ${process.version}; load ${os.loadavg()[0]!.toFixed(2)}`,
);

// ------------------------------------------------ (a) physical checkpoint
// One partition's environment: its database and its offset, as a
// per-partition layout would hold them.
const partFile = path.join(work, 'partition.mdb');
{
  const root = openEnv(partFile);
  const db = binaryDb(root, dbName(0));
  const offsets = offsetsDb(root);
  for (let s = 0; s < N; s += RECORDS_PER_TXN) {
    root.transactionSync(() => {
      for (let i = s; i < Math.min(N, s + RECORDS_PER_TXN); i++) db.putSync(keys[i]!, values[i]!, APPEND);
    }, STAGING_TXN);
  }
  root.transactionSync(() => offsets.putSync([TOPIC, 0], OFFSET));
  await root.close();
}
const partRoot = openEnv(partFile);
binaryDb(partRoot, dbName(0));
const partLive = fs.statSync(partFile).size;

const backupFile = path.join(work, 'backup.mdb');
const zstFile = path.join(work, 'backup.mdb.zst');
let backupBytes = 0;
let zstBytes = 0;
let zstSha = '';
let oneCallBytes = 0;
const backupCompact = async (): Promise<number> => {
  fs.rmSync(backupFile, { force: true });
  const t = performance.now();
  await partRoot.backup(backupFile, true);
  const d = performance.now() - t;
  backupBytes = fs.statSync(backupFile).size;
  return d;
};
// What src/checkpoint does with a segment's bytes: 1 MiB pieces through
// SegmentEncoder (zstd stream + SHA-256), written to a file, fsynced.
const streamFsync: number[] = [];
const compressStreamed = (): number => {
  const t = performance.now();
  const enc = new SegmentEncoder({ level: LEVEL });
  const inFd = fs.openSync(backupFile, 'r');
  const outFd = fs.openSync(zstFile, 'w');
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const n = fs.readSync(inFd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const out = enc.push(buf.subarray(0, n));
      if (out.length > 0) fs.writeSync(outFd, out);
    }
    const { tail, result } = enc.finish();
    if (tail.length > 0) fs.writeSync(outFd, tail);
    const f = performance.now();
    fsyncFile(outFd);
    streamFsync.push(performance.now() - f);
    zstBytes = result.storedBytes;
    zstSha = result.sha256;
  } finally {
    fs.closeSync(inFd);
    fs.closeSync(outFd);
  }
  return performance.now() - t;
};
const physicalCheckpoint = async (): Promise<number> => (await backupCompact()) + compressStreamed();
const compressOneCall = (): number => {
  const file = fs.readFileSync(backupFile);
  const t = performance.now();
  oneCallBytes = compress(file, { compressionLevel: LEVEL }).length;
  return performance.now() - t;
};
const zstdLogical = (): number => {
  const t = performance.now();
  compress(raw, { compressionLevel: LEVEL });
  return performance.now() - t;
};
let nonCompactBytes = 0;
{
  const f = path.join(work, 'noncompact.mdb');
  await partRoot.backup(f, false);
  nonCompactBytes = fs.statSync(f).size;
  fs.rmSync(f);
}

// The logical side: today's store with the same entries in one partition.
const tp0: TopicPartition = { topic: TOPIC, partition: 0 };
const store = await StateStore.open({ path: path.join(work, 'state'), cacheEntries: 1000, sweepIntervalMs: 0 });
await store.replacePartition(
  tp0,
  (function* (): Iterable<RawEntry> {
    for (let i = 0; i < N; i++) yield { key: keys[i]!, value: values[i]! };
  })(),
  OFFSET,
);
const ckDir = path.join(work, 'checkpoints');
const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: ckDir }), compressionLevel: LEVEL });
let lastId = '';
let logicalStored = 0;
const logicalCheckpoint = async (): Promise<number> => {
  fs.rmSync(ckDir, { recursive: true, force: true });
  const snap = await store.snapshot();
  try {
    const t = performance.now();
    const info = await repo.write(snap);
    const d = performance.now() - t;
    lastId = info!.id;
    logicalStored = info!.storedBytes;
    return d;
  } finally {
    snap.release();
  }
};

await physicalCheckpoint(); // warm-up
await logicalCheckpoint();
const stepBackup: number[] = [];
const stepStream: number[] = [];
const aPhys: number[] = [];
const aZstd: number[] = [];
const aLogical: number[] = [];
const aOneCall: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  aZstd.push(zstdLogical());
  const b = await backupCompact();
  const s = compressStreamed();
  stepBackup.push(b);
  stepStream.push(s);
  aPhys.push(b + s);
  aLogical.push(await logicalCheckpoint());
  aOneCall.push(compressOneCall());
}
const physA = median(aPhys);
const zstdA = median(aZstd);
const logicalA = median(aLogical);
say('\n## (a) checkpoint of one partition');
say(`live env file ${mb(partLive)}; backup compact ${mb(backupBytes)}, non-compact ${mb(nonCompactBytes)}`);
say(
  `zstd ${LEVEL} of the compact copy: streamed ${mb(zstBytes)}, one call ${mb(oneCallBytes)}; ` +
    `logical record stream ${mb(raw.length)} -> logical checkpoint ${mb(logicalStored)}`,
);
say(`backup(compact=true)              ${ms(median(stepBackup))}`);
say(
  `stream zstd+sha256 of the copy    ${ms(median(stepStream))}  (1 MiB reads, written, fsynced; fsync ${ms(median(streamFsync.slice(1)))})`,
);
say(`physical checkpoint (sum)         ${ms(physA)}`);
say(`zstd one call of the copy         ${ms(median(aOneCall))}`);
say(`baseline: zstd one call, logical  ${ms(zstdA)}   -> ratio ${ratio(zstdA / physA)} (goal 0.7)`);
say(`logical checkpoint (repo.write)   ${ms(logicalA)}   -> physical is ${ratio(logicalA / physA)}x faster`);
say(`logical checkpoint vs zstd        ratio ${ratio(zstdA / logicalA)}`);

// --------------------------------------------------- (b) physical restore
let k = 0;
const fresh = (): string => {
  const d = path.join(work, `restore-${k++}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};
const key0 = keys[N >> 1]!;
function check(file: string): void {
  const root = openEnv(file);
  const db = binaryDb(root, dbName(0));
  const count = (db.getStats() as { entryCount: number }).entryCount;
  const v = db.getBinary(key0);
  const off = offsetsDb(root).get([TOPIC, 0]);
  if (count !== N || v === undefined || !v.equals(values[N >> 1]!) || off !== OFFSET)
    throw new Error(`restored env is wrong: ${count} entries, offset ${off}`);
  // close() is async in lmdb-js; the caller removes the directory afterwards
  void root.close();
}
// Stream-decompress (with the SHA-256 a restore checks) into a new file, fdatasync, open.
// Steps: [read+sha256+unzstd+write, fdatasync, open+check] in ms.
const restoreSteps: number[][] = [];
const physicalRestore = async (): Promise<number> => {
  const dir = fresh();
  const file = path.join(dir, 'partition.mdb');
  const t = performance.now();
  let t1 = t;
  const dctx = new zstd.DCtx();
  const hash = createHash('sha256');
  const inFd = fs.openSync(zstFile, 'r');
  const outFd = fs.openSync(file, 'w', 0o600);
  const inBuf = Buffer.allocUnsafe(CHUNK);
  const outBuf = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const n = fs.readSync(inFd, inBuf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(inBuf.subarray(0, n));
      let input = inBuf.subarray(0, n);
      for (;;) {
        const [, wrote, read] = dctx.decompressStream(outBuf, input);
        if (wrote > 0) fs.writeSync(outFd, outBuf, 0, wrote);
        input = input.subarray(read);
        if (input.length === 0 && wrote < outBuf.length) break;
      }
    }
    t1 = performance.now();
    fs.fdatasyncSync(outFd);
  } finally {
    fs.closeSync(inFd);
    fs.closeSync(outFd);
  }
  const t2 = performance.now();
  if (hash.digest('hex') !== zstSha) throw new Error('sha256 mismatch');
  check(file);
  const d = performance.now() - t;
  restoreSteps.push([t1 - t, t2 - t1, performance.now() - t2]);
  await yieldToLoop();
  fs.rmSync(dir, { recursive: true, force: true });
  return d;
};
const physicalCopy = async (): Promise<number> => {
  const dir = fresh();
  const file = path.join(dir, 'partition.mdb');
  const t = performance.now();
  fs.copyFileSync(backupFile, file);
  check(file);
  const d = performance.now() - t;
  await yieldToLoop();
  fs.rmSync(dir, { recursive: true, force: true });
  return d;
};
const logicalRestore = async (): Promise<number> => {
  const dir = fresh();
  const target = await StateStore.open({ path: dir, cacheEntries: 1000, sweepIntervalMs: 0 });
  const t = performance.now();
  const res = await repo.restore(target, { id: lastId });
  const d = performance.now() - t;
  if (res.restored.length !== 1) throw new Error('logical restore incomplete');
  await target.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return d;
};
// A segment cut into independent zstd frames of FRAME_RAW raw bytes each,
// decompressed by two worker threads (the machine's two cores), each
// checking its frames' SHA-256 and writing them at their place in the file.
const FRAME_RAW = 8 << 20;
const framedFile = path.join(work, 'backup.mdb.zstf');
const frames: Array<{ off: number; len: number; sha: string; i: number }> = [];
{
  const copy = fs.readFileSync(backupFile);
  const fd = fs.openSync(framedFile, 'w');
  let off = 0;
  for (let i = 0; i * FRAME_RAW < copy.length; i++) {
    const c = compress(copy.subarray(i * FRAME_RAW, (i + 1) * FRAME_RAW), { compressionLevel: LEVEL });
    fs.writeSync(fd, c);
    frames.push({ off, len: c.length, sha: createHash('sha256').update(c).digest('hex'), i });
    off += c.length;
  }
  fs.closeSync(fd);
}
const framedBytes = fs.statSync(framedFile).size;
const zstdEntry = createRequire(import.meta.url).resolve('zstd-napi/binding.js');
const FRAME_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
// Streamed, as the single-threaded restore: zstd-napi's one-call decompress() was slower.
const zstd = require(workerData.zstd);
const dctx = new zstd.DCtx();
const out = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ src, dst, frames, frameRaw }) => {
  const inFd = fs.openSync(src, 'r');
  const outFd = fs.openSync(dst, 'r+');
  let bad = 0;
  for (const f of frames) {
    const b = Buffer.allocUnsafe(f.len);
    fs.readSync(inFd, b, 0, f.len, f.off);
    if (createHash('sha256').update(b).digest('hex') !== f.sha) bad++;
    let input = b;
    let pos = f.i * frameRaw;
    for (;;) {
      const [ret, wrote, read] = dctx.decompressStream(out, input);
      if (wrote > 0) pos += fs.writeSync(outFd, out, 0, wrote, pos);
      input = input.subarray(read);
      if (ret === 0 && input.length === 0) break;
      if (wrote === 0 && read === 0) throw new Error('zstd made no progress');
    }
  }
  fs.closeSync(inFd);
  fs.closeSync(outFd);
  parentPort.postMessage(bad);
});
`;
const frameWorkers = [0, 1].map(() => new Worker(FRAME_WORKER, { eval: true, workerData: { zstd: zstdEntry } }));
const framedSteps: number[][] = [];
const framedRestore = async (): Promise<number> => {
  const dir = fresh();
  const file = path.join(dir, 'partition.mdb');
  const t = performance.now();
  fs.closeSync(fs.openSync(file, 'w', 0o600));
  const bad = await Promise.all(
    frameWorkers.map(
      (w, n) =>
        new Promise<number>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
          w.postMessage({
            src: framedFile,
            dst: file,
            frames: frames.filter((f) => f.i % 2 === n),
            frameRaw: FRAME_RAW,
          });
        }),
    ),
  );
  if (bad.some((b) => b !== 0)) throw new Error('frame sha256 mismatch');
  const t1 = performance.now();
  const fd = fs.openSync(file, 'r');
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
  const t2 = performance.now();
  check(file);
  const d = performance.now() - t;
  framedSteps.push([t1 - t, t2 - t1, performance.now() - t2]);
  await yieldToLoop();
  fs.rmSync(dir, { recursive: true, force: true });
  return d;
};
// The floor of one thread's decompression: one call, memory to memory.
const zstStored = fs.readFileSync(zstFile);
const decompressOneCall = (): number => {
  const t = performance.now();
  const out = decompress(zstStored);
  const d = performance.now() - t;
  if (out.length !== backupBytes) throw new Error('decompressed size');
  return d;
};
await physicalRestore();
await physicalCopy();
await logicalRestore();
decompressOneCall();
await framedRestore();
const bPhys: number[] = [];
const bFramed: number[] = [];
const bCopy: number[] = [];
const bLogical: number[] = [];
const bUnzstd: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  bCopy.push(await physicalCopy());
  bPhys.push(await physicalRestore());
  bLogical.push(await logicalRestore());
  bUnzstd.push(decompressOneCall());
  bFramed.push(await framedRestore());
}
await Promise.all(frameWorkers.map((w) => w.terminate()));
const physB = median(bPhys);
const copyB = median(bCopy);
const logicalB = median(bLogical);
say('\n## (b) restore of one partition');
say(`baseline: copy the compact backup + open   ${ms(copyB)}`);
say(
  `physical: unzstd+sha256 -> file, fdatasync, open   ${ms(physB)}   -> ratio ${ratio(copyB / physB)} (goal 0.25: ${copyB / physB >= 0.25 ? 'met' : 'not met'})`,
);
const step = (i: number): string => ms(median(restoreSteps.slice(1).map((x) => x[i]!)));
say(`  of which read+sha256+unzstd+write ${step(0)}, fdatasync ${step(1)}, open+check ${step(2)}`);
say(`  zstd decompress of the copy, one call, in memory: ${ms(median(bUnzstd))}`);
const framedB = median(bFramed);
const fstep = (i: number): string => ms(median(framedSteps.slice(1).map((x) => x[i]!)));
say(
  `physical, ${frames.length} frames of ${FRAME_RAW >> 20} MiB (${mb(framedBytes)}), 2 worker threads: ${ms(framedB)}   -> ratio ${ratio(copyB / framedB)} (goal 0.25: ${copyB / framedB >= 0.25 ? 'met' : 'not met'})`,
);
say(`  of which read+sha256+unzstd+write ${fstep(0)}, fdatasync ${fstep(1)}, open+check ${fstep(2)}`);
say(`logical restore (repo.restore)   ${ms(logicalB)}   -> ratio ${ratio(copyB / logicalB)}`);
await repo.close();
await store.close();
await partRoot.close();

// ---------------------------------------------- (c) writes off the main thread
const per = Math.floor(N / PARTITIONS);
// Each partition's records in one shared buffer, as decoded chunks would
// arrive: bounds[2i] key start, bounds[2i+1] value start, bounds[2i+2] end.
interface Shared {
  data: SharedArrayBuffer;
  bounds: SharedArrayBuffer;
}
const shared: Shared[] = [];
for (let p = 0; p < PARTITIONS; p++) {
  let bytes = 0;
  for (let i = p * per; i < (p + 1) * per; i++) bytes += keys[i]!.length + values[i]!.length;
  const data = new SharedArrayBuffer(bytes);
  const bounds = new SharedArrayBuffer(4 * (2 * per + 1));
  const d = Buffer.from(data);
  const b = new Int32Array(bounds);
  let pos = 0;
  for (let j = 0; j < per; j++) {
    const i = p * per + j;
    b[2 * j] = pos;
    pos += keys[i]!.copy(d, pos);
    b[2 * j + 1] = pos;
    pos += values[i]!.copy(d, pos);
  }
  b[2 * per] = pos;
  shared.push({ data, bounds });
}
const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');
// CommonJS (eval: true): no TypeScript loader needed in the worker.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { open } = require(workerData.lmdb);
const { file, name, data, bounds, perTxn, flags, sync } = workerData;
// A plain copy: lmdb-js reads a value held in a SharedArrayBuffer from the wrong address.
const buf = Buffer.from(new Uint8Array(data));
const b = new Int32Array(bounds);
const root = open({ path: file, noSubdir: true, maxDbs: 12, overlappingSync: true });
const db = root.openDB({ name, keyEncoding: 'binary', encoding: 'binary' });
parentPort.once('message', () => {
  const n = (b.length - 1) / 2;
  for (let s = 0; s < n; s += perTxn) {
    const e = Math.min(n, s + perTxn);
    root.transactionSync(() => {
      for (let i = s; i < e; i++) db.putSync(buf.subarray(b[2 * i], b[2 * i + 1]), buf.subarray(b[2 * i + 1], b[2 * i + 2]), { append: true });
    }, flags);
  }
  if (sync) { const fd = fs.openSync(file, 'r'); fs.fdatasyncSync(fd); fs.closeSync(fd); }
  const count = db.getStats().entryCount;
  root.close().then(() => parentPort.postMessage({ done: count }));
});
parentPort.postMessage({ ready: true });
`;

/** Longest gap between 1 ms timer ticks on the main thread while `fn` runs. */
async function withGap(fn: () => Promise<void>): Promise<{ ms: number; gap: number }> {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t = performance.now();
  await fn();
  const d = performance.now() - t;
  clearInterval(timer);
  gap = Math.max(gap, performance.now() - last);
  return { ms: d, gap };
}
// lmdb-js 3.5.6 stores garbage (and the process can crash later) when a
// value Buffer's memory is a SharedArrayBuffer: writers take plain copies.
const sharedView = (s: Shared): { buf: Buffer; b: Int32Array } => ({
  buf: Buffer.from(new Uint8Array(s.data)),
  b: new Int32Array(s.bounds),
});

// (i) today: the main thread, one environment, four databases, one after the other.
async function mainThread(): Promise<{ ms: number; gap: number }> {
  const file = path.join(work, `c-main-${k++}.mdb`);
  const root = openEnv(file);
  const dbs = Array.from({ length: PARTITIONS }, (_, p) => binaryDb(root, dbName(p)));
  const views = shared.map(sharedView);
  const r = await withGap(async () => {
    for (let p = 0; p < PARTITIONS; p++) {
      const { buf, b } = views[p]!;
      const db = dbs[p]!;
      for (let s = 0; s < per; s += RECORDS_PER_TXN) {
        const e = Math.min(per, s + RECORDS_PER_TXN);
        root.transactionSync(() => {
          for (let i = s; i < e; i++)
            db.putSync(buf.subarray(b[2 * i]!, b[2 * i + 1]!), buf.subarray(b[2 * i + 1]!, b[2 * i + 2]!), APPEND);
        }, STAGING_TXN);
        await yieldToLoop();
      }
    }
    await fs.promises.open(file, 'r').then(async (fh) => {
      await fh.datasync();
      await fh.close();
    });
  });
  for (const db of dbs) if ((db.getStats() as { entryCount: number }).entryCount !== per) throw new Error('(i) short');
  await removeEnv(root, file);
  return r;
}

// (ii)/(iii): one worker per partition, into its own environment or into the same one.
async function workers(sameEnv: boolean): Promise<{ ms: number; gap: number }> {
  const tag = k++;
  const files = Array.from({ length: PARTITIONS }, (_, p) =>
    path.join(work, sameEnv ? `c-same-${tag}.mdb` : `c-own-${tag}-${p}.mdb`),
  );
  // The main thread opens the environment(s) and creates the databases first.
  const roots = (sameEnv ? [files[0]!] : files).map((f) => openEnv(f));
  for (let p = 0; p < PARTITIONS; p++) binaryDb(roots[sameEnv ? 0 : p]!, dbName(p));
  const ws = files.map(
    (file, p) =>
      new Worker(WORKER, {
        eval: true,
        workerData: {
          lmdb: lmdbEntry,
          file,
          name: dbName(p),
          ...shared[p]!,
          perTxn: RECORDS_PER_TXN,
          flags: STAGING_TXN,
          sync: !sameEnv,
        },
      }),
  );
  const message = (w: Worker): Promise<{ ready?: boolean; done?: number }> =>
    new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  await Promise.all(ws.map(message)); // started and opened: not timed
  const r = await withGap(async () => {
    const done = ws.map(message);
    for (const w of ws) w.postMessage('go');
    const counts = await Promise.all(done);
    if (counts.some((c) => c.done !== per)) throw new Error('worker wrote too few entries');
    if (sameEnv) {
      const fh = await fs.promises.open(files[0]!, 'r');
      await fh.datasync();
      await fh.close();
    }
  });
  await Promise.all(ws.map((w) => w.terminate()));
  for (let i = 0; i < roots.length; i++) await removeEnv(roots[i]!, sameEnv ? files[0]! : files[i]!);
  return r;
}

const cVariants: Array<[string, () => Promise<{ ms: number; gap: number }>]> = [
  ['(i) main thread, 1 env, 4 dbs, sequential', mainThread],
  ['(ii) 4 workers, 4 envs (own env each)', () => workers(false)],
  ['(iii) 4 workers, 1 env, 4 dbs', () => workers(true)],
];
for (const [, fn] of cVariants) await fn(); // warm-up
const cRes = new Map<string, { ms: number[]; gap: number[] }>();
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of cVariants) {
    const x = await fn();
    const e = cRes.get(name) ?? { ms: [], gap: [] };
    e.ms.push(x.ms);
    e.gap.push(x.gap);
    cRes.set(name, e);
  }
}
say(`\n## (c) writing ${PARTITIONS} x ${per.toLocaleString('en-US')} entries (MDB_APPEND, ~1 MiB per txn, fdatasync)`);
const cBase = median(cRes.get(cVariants[0]![0])!.ms);
for (const [name] of cVariants) {
  const e = cRes.get(name)!;
  say(
    `${name.padEnd(46)} ${ms(median(e.ms)).padStart(10)}  ratio ${ratio(cBase / median(e.ms))}  ` +
      `main-thread longest gap ${ms(median(e.gap))} (max ${ms(Math.max(...e.gap))})`,
  );
}

// ------------------------------------------- (d) write-through commit cost
// A batch of `batch` records over the 4 partitions, with each partition's
// offset, as LmdbBackend.write commits it (transactionSync: committed and
// fdatasynced on return), and with lmdb-js's async transaction(): its
// promise resolves on commit; `flushed` once durable (overlappingSync).
interface Layout {
  roots: RootDatabase[];
  dbs: BinaryDb[];
  offsets: Array<Database<string | null, OffsetKey>>;
  files: string[];
}
function layout(perPartition: boolean): Layout {
  const tag = k++;
  const files = perPartition
    ? Array.from({ length: PARTITIONS }, (_, p) => path.join(work, `d-${tag}-${p}.mdb`))
    : [path.join(work, `d-${tag}.mdb`)];
  const roots = files.map((f) => openEnv(f));
  const dbs = Array.from({ length: PARTITIONS }, (_, p) => binaryDb(roots[perPartition ? p : 0]!, dbName(p)));
  const offsets = roots.map(offsetsDb);
  return { roots, dbs, offsets, files };
}
let seq = 0;
function fill(l: Layout, p: number, n: number): void {
  const db = l.dbs[p]!;
  for (let j = 0; j < n; j++) {
    const i = (seq++ * 7919) % per;
    db.putSync(keys[p * per + i]!, values[p * per + i]!);
  }
  l.offsets[l.roots.length === 1 ? 0 : p]!.putSync([TOPIC, p], String(seq));
}
type Mode = 'sync' | 'async' | 'async+flushed';
async function commitRate(perPartition: boolean, batch: number, mode: Mode): Promise<number> {
  const l = layout(perPartition);
  const share = batch / PARTITIONS;
  const end = performance.now() + COMMIT_MS;
  let commits = 0;
  const t = performance.now();
  while (performance.now() < end) {
    if (mode === 'sync') {
      if (!perPartition)
        l.roots[0]!.transactionSync(() => {
          for (let p = 0; p < PARTITIONS; p++) fill(l, p, share);
        });
      else for (let p = 0; p < PARTITIONS; p++) l.roots[p]!.transactionSync(() => fill(l, p, share));
    } else if (!perPartition) {
      await l.roots[0]!.transaction(() => {
        for (let p = 0; p < PARTITIONS; p++) fill(l, p, share);
      });
      if (mode === 'async+flushed') await l.roots[0]!.flushed;
    } else {
      await Promise.all(l.roots.map((root, p) => root.transaction(() => fill(l, p, share))));
      if (mode === 'async+flushed') await Promise.all(l.roots.map((root) => root.flushed));
    }
    commits++;
  }
  const rate = commits / ((performance.now() - t) / 1000);
  for (let i = 0; i < l.roots.length; i++) await removeEnv(l.roots[i]!, l.files[i]!);
  return rate;
}
say(`\n## (d) write-through commits, ${PARTITIONS} partitions per batch, ${COMMIT_MS} ms each (commits/s)`);
for (const batch of [100, 1000]) {
  for (const mode of ['sync', 'async', 'async+flushed'] as const) {
    await commitRate(false, batch, mode); // warm-up
    await commitRate(true, batch, mode);
    const x = await alternate(
      ROUNDS,
      () => commitRate(true, batch, mode),
      () => commitRate(false, batch, mode),
    );
    say(
      `batch ${String(batch).padStart(4)} ${mode.padEnd(13)}  1 env, 1 txn ${x.baseline.toFixed(0).padStart(6)}/s   ` +
        `4 envs, 4 txns ${x.subject.toFixed(0).padStart(6)}/s   ratio ${ratio(x.subject / x.baseline)}`,
    );
  }
}

// ---------------------------------------------------- lmdb-js facts
say('\n## lmdb-js behaviour');
await facts();

fs.rmSync(work, { recursive: true, force: true });
say(`\nload ${os.loadavg()[0]!.toFixed(2)}`);

async function facts(): Promise<void> {
  const dir = path.join(work, 'facts');
  fs.mkdirSync(dir);
  const p = path.join(dir, 'live.mdb');
  const q = path.join(dir, 'restored.mdb');
  const a = openEnv(p);
  const da = binaryDb(a, 'x');
  da.putSync(Buffer.from('k'), Buffer.from('old'));
  // The same path opened twice in one process.
  const b = openEnv(p);
  const db = binaryDb(b, 'x');
  // (lmdb-js shares one MDB_env per data file, by device and inode, across opens and threads: src/env.cpp)
  say(`open() twice on one path: same object ${a === b}; second sees the first's write: ${db.get(Buffer.from('k'))}`);
  // Rename a restored file over the path while it is open.
  const c = openEnv(q);
  binaryDb(c, 'x').putSync(Buffer.from('k'), Buffer.from('new'));
  await c.close();
  fs.renameSync(q, p);
  const d = openEnv(p);
  say(`after rename over the open env, open() again in this process reads: ${binaryDb(d, 'x').get(Buffer.from('k'))}`);
  say(`  while the handle opened before the rename still reads: ${da.get(Buffer.from('k'))}`);
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { open } = require(workerData.lmdb);
     const r = open({ path: workerData.p, noSubdir: true, maxDbs: 12, overlappingSync: true });
     const v = r.openDB({ name: 'x', keyEncoding: 'binary', encoding: 'binary' }).get(Buffer.from('k'));
     r.close().then(() => parentPort.postMessage(String(v)));`,
    { eval: true, workerData: { lmdb: lmdbEntry, p } },
  );
  const fromWorker = await new Promise<string>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  say(`  the same from a worker thread while the main thread holds it open: ${fromWorker}`);
  await d.close();
  await b.close();
  await a.close();
  const e = openEnv(p);
  say(`  after every handle closed, open() reads: ${binaryDb(e, 'x').get(Buffer.from('k'))}`);
  // backup() onto an existing file.
  const target = path.join(dir, 'exists.mdb');
  fs.writeFileSync(target, 'x');
  try {
    await e.backup(target, true);
    say(`backup() onto an existing file: succeeded, ${fs.statSync(target).size} bytes`);
  } catch (err) {
    say(`backup() onto an existing file: rejected (${(err as Error).message})`);
  }
  const lock = fs.existsSync(`${q}-lock`);
  say(
    `a -lock file is left beside a closed env: ${lock}; backup() writes no -lock: ${!fs.existsSync(`${target}-lock`)}`,
  );
  await e.close();
  // A value whose memory is a SharedArrayBuffer, in a child process (it can crash).
  const child = spawnSync(
    process.execPath,
    [
      '-e',
      `const { open } = require(${JSON.stringify(lmdbEntry)});
       const r = open({ path: ${JSON.stringify(path.join(dir, 'sab.mdb'))}, noSubdir: true });
       const sab = Buffer.from(new SharedArrayBuffer(32)).fill(0x41);
       r.putSync(Buffer.from('k'), sab);
       console.log(Buffer.from(r.getBinary(Buffer.from('k'))).equals(sab));`,
    ],
    { encoding: 'utf8' },
  );
  say(
    `putSync of a value held in a SharedArrayBuffer: reads back equal ${child.stdout.trim() || '-'}, ` +
      `exit ${child.status ?? child.signal}`,
  );
}
