// Child process of bench/restore.bench.ts: restores one checkpoint into a
// fresh store in a process that did nothing else, sampling its anonymous
// resident memory (RssAnon: heap, buffers, native allocations; not LMDB's
// file-backed map) every 2 ms, and prints the peak above the level at start.
import * as fs from 'node:fs';
import { CheckpointRepository, LocalDirectoryStorage, StateStore } from '../../src/index.js';

const [ckDir, id, stateDir] = process.argv.slice(2) as [string, string, string];
const anon = (): number => {
  const m = /RssAnon:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m === null ? process.memoryUsage.rss() : Number(m[1]) * 1024;
};
const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: ckDir }) });
const store = await StateStore.open({ path: stateDir, cacheEntries: 1000, sweepIntervalMs: 0 });
await repo.verify(id); // starts the worker and loads the code paths, so they are not counted
const start = anon();
let peak = start;
const timer = setInterval(() => {
  peak = Math.max(peak, anon());
}, 2);
await repo.restore(store, { id });
peak = Math.max(peak, anon());
clearInterval(timer);
await store.close();
await repo.close();
process.stdout.write(`${JSON.stringify({ peakAboveStartBytes: peak - start })}\n`);
