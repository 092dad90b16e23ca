// The quick start's demo. Counts page views per user from an in-process
// event stream into a tidemark StateStore, committing state and offsets
// together; then "crashes" mid-batch (uncommitted changes are lost with
// their offsets), reopens, resumes from the stored offset, and checks the
// final state against a reference computed from the whole stream.
//
//   npm run demo -- [--dir <dir>] [--events <n>]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { StateStore } from '../src/index.js';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, events: { type: 'string', default: '200000' } },
});
const events = Number(values.events);
const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-demo-'));
const stateDir = path.join(dir, 'state');
fs.rmSync(stateDir, { recursive: true, force: true });

const TOPIC = 'page-views';
const USERS = 1000;
const BATCH = 5000;
const event = (i: number) => ({ user: `user-${(i * 7919) % USERS}`, ms: 1 + (i % 97) });
type Views = { views: number; ms: number };

async function run(stopAt: number, crash: boolean): Promise<number> {
  const store = await StateStore.open({ path: stateDir, cacheEntries: 10_000 });
  const p = store.partition(TOPIC, 0);
  let next = Number(store.offset(TOPIC, 0) ?? 0);
  console.log(`  opened ${stateDir}: resuming at offset ${next}`);
  while (next < stopAt) {
    const end = Math.min(stopAt, next + BATCH);
    for (let i = next; i < end; i++) {
      const e = event(i);
      p.update<Views>(e.user, (s) => ({ views: (s?.views ?? 0) + 1, ms: (s?.ms ?? 0) + e.ms }));
    }
    if (crash && end === stopAt) {
      console.log(`  crash! ${end - next} processed records were never committed`);
      await store.close(); // like a kill: uncommitted changes vanish with their offsets
      return next;
    }
    await store.commit([{ topic: TOPIC, partition: 0, offset: end }]);
    next = end;
  }
  const total = [...p.entries<Views>()].reduce((n, e) => n + e.value.views, 0);
  await store.close();
  return total;
}

const started = performance.now();
console.log(`tidemark demo: ${events} events, ${USERS} users`);
console.log('run 1: process 60% of the stream, crash before the last commit');
const resumeAt = await run(Math.floor(events * 0.6) + 1234, true);
console.log('run 2: restart and finish the stream');
await run(events, false);

// Check every user's state against a reference computed from the stream.
const ref = new Map<string, Views>();
for (let i = 0; i < events; i++) {
  const e = event(i);
  const s = ref.get(e.user) ?? { views: 0, ms: 0 };
  ref.set(e.user, { views: s.views + 1, ms: s.ms + e.ms });
}
const store = await StateStore.open({ path: stateDir });
const p = store.partition(TOPIC, 0);
let mismatches = 0;
for (const [user, want] of ref) {
  const got = p.get<Views>(user);
  if (got?.views !== want.views || got.ms !== want.ms) mismatches++;
}
console.log(`resumed at offset ${resumeAt}; final offset ${store.offset(TOPIC, 0)}`);
console.log(`users checked: ${ref.size}, mismatches: ${mismatches} -> ${mismatches === 0 ? 'EXACT' : 'WRONG'}`);
console.log(`state left in ${stateDir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
await store.close();
process.exit(mismatches === 0 ? 0 : 1);
