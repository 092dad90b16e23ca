// Focused micro-bench for one segment's decode and encode, in this thread
// (no worker, no disk), so each step's cost adds up rather than overlaps:
// `npx tsx bench/segment-decoder.micro.ts [entries] [rounds]`. Reports this
// process's CPU time per step (median and minimum): on the shared 2 cores
// wall time swings by 2x between rounds, CPU time by a few percent.
// The record stream is the checkpoint bench's small data set (keys
// `user-00000000`..., ~60-byte values) built without LMDB. Not run by
// bench/run.ts (its name does not end in .bench.ts).
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { compress, decompress } from 'zstd-napi';
import { RecordPacker, RecordScanner } from '../src/checkpoint/records.js';
import { SegmentDecoder, SegmentEncoder } from '../src/checkpoint/segment-codec.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';

const n = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 7);
const LEVEL = 3;
const READ_CHUNK = 1 << 20; // LocalDirectoryStorage.readChunks

const codec = new ScopeCodec('');
const keys: Buffer[] = [];
const values: Buffer[] = [];
for (let i = 0; i < n; i++) {
  keys.push(codec.encode(`user-${String(i).padStart(8, '0')}`));
  values.push(encodeValue({ count: i % 97, sum: i * 3, last: 1_700_000_000_000 + i * 7, tag: `t${i % 13}` }, 0, 0));
}
const pack = (): Buffer[] => {
  const p = new RecordPacker();
  for (let i = 0; i < n; i++) p.add(keys[i]!, values[i]!);
  return p.finish();
};
const chunks = pack();
const raw = Buffer.concat(chunks);
const stored = compress(raw, { compressionLevel: LEVEL });
const sha256 = createHash('sha256').update(stored).digest('hex');
console.error(
  `${n} records, ${(raw.length / 1e6).toFixed(1)} MB raw, ${(stored.length / 1e6).toFixed(1)} MB stored; ` +
    `load ${os.loadavg()[0]!.toFixed(1)}`,
);

const steps: Record<string, () => void> = {
  'zstd decompress, one call': () => void decompress(stored),
  'SHA-256 of the stored bytes': () => void createHash('sha256').update(stored).digest(),
  'RecordScanner alone': () => {
    const s = new RecordScanner();
    for (const c of chunks) s.scan(c, 0, c.length);
  },
  'SegmentDecoder (1 MiB reads)': () => {
    const d = new SegmentDecoder({ storedBytes: stored.length, rawBytes: raw.length, entries: n, sha256 });
    for (let p = 0; p < stored.length; p += READ_CHUNK) d.push(stored.subarray(p, p + READ_CHUNK));
    d.finish();
  },
  'zstd compress, one call': () => void compress(raw, { compressionLevel: LEVEL }),
  'RecordPacker alone': () => void pack(),
  'SegmentEncoder (1 MiB chunks)': () => {
    const e = new SegmentEncoder({ level: LEVEL });
    for (const c of chunks) e.push(c);
    e.finish();
  },
};

const times: Record<string, number[]> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(steps)) {
    const t = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t);
    (times[name] ??= []).push((d.user + d.system) / 1000);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const [name, xs] of Object.entries(times)) {
  console.log(`${name.padEnd(32)} ${median(xs).toFixed(1).padStart(8)} ms CPU  (min ${Math.min(...xs).toFixed(1)})`);
}
console.error(`load ${os.loadavg()[0]!.toFixed(1)}`);
