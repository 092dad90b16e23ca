// The quick start's demo: `npm run demo -- [--dir <dir>] [--events <n>] [--metrics-port <port>]`
//
// Click events from an in-process source (no broker) feed a sessionization
// pipeline: per-user session windows with a 30-minute inactivity gap,
// expired through TTL, on event time. It takes checkpoints, crashes
// mid-stream, loses its disk, restarts from the newest checkpoint, finishes
// the stream, and checks every user's totals against a reference computed
// from the events. The state and checkpoints are left in <dir> for the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  TidemarkMetrics,
  type CheckpointInfo,
  type RecoveryReport,
} from '../src/index.js';
import {
  EventTimeClock,
  OPEN,
  TOTALS,
  generateClicks,
  referenceTotals,
  sessionize,
  type UserTotals,
} from './lib/sessions.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'demo-output' },
    events: { type: 'string', default: '200000' },
    users: { type: 'string', default: '2000' },
    'metrics-port': { type: 'string' },
  },
});
const EVENTS = positive('events', values.events);
const USERS = positive('users', values.users);
const GAP_MS = 30 * 60_000;
const TOPIC = 'clicks';
const PARTITIONS = 4;
const dir = path.resolve(values.dir);
const stateDir = path.join(dir, 'state');
const checkpointDir = path.join(dir, 'checkpoints');
fs.rmSync(stateDir, { recursive: true, force: true });
fs.rmSync(checkpointDir, { recursive: true, force: true });

const say = (line = '') => console.log(line);
// Optional: Prometheus metrics and the /healthz and /readyz probes while the demo runs.
const metrics = values['metrics-port'] === undefined ? undefined : new TidemarkMetrics({ defaultMetrics: true });
const server =
  metrics === undefined
    ? undefined
    : await metrics.serve({ port: positive('metrics-port', values['metrics-port'], 0) });
const ms = (t: number) => `${(t / 1000).toFixed(2)} s`;
const started = performance.now();

// 1. The stream: clicks keyed by user, 4 partitions, event time increasing.
const clicks = generateClicks(EVENTS, USERS, Date.UTC(2026, 10, 22, 8, 0, 0));
const log = new InProcessLog();
log.createTopic(TOPIC, PARTITIONS);
let appended = 0;
const appendUpTo = (fraction: number) => {
  const to = Math.floor(EVENTS * fraction);
  log.append(
    TOPIC,
    clicks.slice(appended, to).map((c) => ({ key: c.user, value: JSON.stringify(c), timestamp: c.ts })),
  );
  appended = to;
};
const ends = () => log.partitions(TOPIC).map((tp) => Number(log.endOffset(tp)));
say(`tidemark demo: ${EVENTS.toLocaleString('en-US')} clicks from ${USERS} users on ${PARTITIONS} partitions`);
say(`sessions end after ${GAP_MS / 60_000} minutes without a click (a TTL on each open session, on event time)`);
say(`state: ${stateDir}`);
say(`checkpoints: ${checkpointDir}`);
if (server !== undefined) say(`metrics: ${server.url}/metrics (also /healthz, /readyz)`);
say();

function startRun() {
  const clock = new EventTimeClock();
  const reports: RecoveryReport[] = [];
  const checkpoints: CheckpointInfo[] = [];
  let processed = 0;
  const run = (async () => {
    const store = await StateStore.open({ path: stateDir, clock, sweepIntervalMs: 0 });
    const repository = new CheckpointRepository({
      storage: new LocalDirectoryStorage({ path: checkpointDir }),
      observer: metrics?.checkpointObserver,
    });
    const source = new InProcessSource({ log, topics: [TOPIC], maxBatchRecords: 500 });
    const pipeline = new Pipeline({
      source,
      store,
      handler: sessionize(GAP_MS, clock),
      // Ctrl-C: stop gracefully (commit, final checkpoint), then end by the signal.
      handleSignals: true,
      commitInterval: { records: 5000, ms: 200 },
      checkpoints: {
        repository,
        coordinator: {
          intervalMs: 250,
          minPauseMs: 0,
          retention: { keepLast: 3 },
          observer: {
            checkpointCompleted: (e) => {
              metrics?.checkpointObserver.checkpointCompleted?.(e);
              void repository
                .list()
                .then((l) => checkpoints.splice(0, Infinity, ...l.filter((c) => c.status === 'valid')));
            },
            checkpointStarted: (e) => metrics?.checkpointObserver.checkpointStarted?.(e),
            checkpointFailed: (e) => metrics?.checkpointObserver.checkpointFailed?.(e),
            retentionCompleted: (e) => metrics?.checkpointObserver.retentionCompleted?.(e),
          },
        },
      },
      observers: [
        {
          recovered: (r) => reports.push(r),
          batchProcessed: (_tp, n) => {
            processed += n;
          },
        },
      ],
    });
    metrics?.instrument(pipeline);
    await pipeline.start();
    return { pipeline, store, repository, source };
  })();
  return { run, reports, checkpoints, processed: () => processed };
}

const caughtUp = (positions: Array<{ partition: number; offset: string }>) => {
  const e = ends();
  return positions.length === PARTITIONS && positions.every((p) => Number(p.offset) === e[p.partition]);
};

// 2. The first 60% of the clicks: process, commit, checkpoint.
say('run 1: processing, committing state with its offsets, checkpointing every 250 ms');
appendUpTo(0.6);
const first = startRun();
const r1 = await first.run;
const t1 = performance.now();
await until(() => caughtUp(r1.store.offsets()));
const newest = (await r1.pipeline.checkpoints!.checkpoint())!;
say(
  `  processed ${first.processed().toLocaleString('en-US')} clicks in ${ms(performance.now() - t1)}; checkpoint ${newest.id}`,
);
say(
  `    ${newest.entries.toLocaleString('en-US')} entries, ${kb(newest.rawBytes)} raw -> ${kb(newest.storedBytes)} stored, at offsets ${newest.partitions.map((p) => `${p.partition}:${p.offset}`).join('  ')}`,
);

// 3. 15% more arrive; the process dies in the middle of them.
appendUpTo(0.75);
await until(() => first.processed() >= EVENTS * 0.7);
await r1.pipeline.abort(); // as if killed: no commit, no final checkpoint
say(
  `  ...processed up to ${first.processed().toLocaleString('en-US')} clicks, then CRASHED (what it had not committed is lost with its offsets)`,
);
fs.rmSync(stateDir, { recursive: true, force: true });
say('  ...and the disk was lost with the machine: local state deleted');
appendUpTo(1);
say(
  `  meanwhile the rest of the stream arrived (${(EVENTS - Math.floor(EVENTS * 0.75)).toLocaleString('en-US')} more clicks)`,
);
say();

// 4. Restart: recover from the newest checkpoint, replay the rest.
say('run 2: restart on a new disk');
const second = startRun();
const r2 = await second.run;
const t2 = performance.now();
await until(() => second.reports.length === PARTITIONS);
for (const r of [...second.reports].sort((a, b) => a.partition - b.partition)) {
  say(
    `  ${r.topic}:${r.partition} restored from ${r.source} ${r.checkpointId ?? ''} -> resumes at offset ${r.offset ?? 'earliest'}`,
  );
}
await until(() => caughtUp(r2.pipeline.positions()));
await r2.pipeline.stop(); // graceful: commit, final checkpoint, close
const resumedAt = second.reports.reduce((n, r) => n + Number(r.offset ?? 0), 0);
say(
  `  replayed ${(EVENTS - resumedAt).toLocaleString('en-US')} clicks from the checkpoint's offsets to the end in ${ms(performance.now() - t2)}`,
);
say('  stopped gracefully: committed, final checkpoint written, store closed');
say();

// 5. Check every user's totals against the reference computed from the clicks.
const reference = referenceTotals(clicks, GAP_MS);
const endOfStream = new EventTimeClock();
endOfStream.current = clicks[clicks.length - 1]!.ts; // sessions still open then
const store = await StateStore.open({ path: stateDir, clock: endOfStream, sweepIntervalMs: 0 });
let mismatches = 0;
let sessions = 0;
let open = 0;
const seen = new Set<string>();
for (let p = 0; p < PARTITIONS; p++) {
  const state = store.partition(TOPIC, p);
  for (const { key, value } of state.scope(TOTALS).entries<UserTotals>()) {
    const want = reference.get(key as string);
    if (want === undefined || want.sessions !== value.sessions || want.clicks !== value.clicks) mismatches++;
    seen.add(key as string);
    sessions += value.sessions;
  }
  open += state.scope(OPEN).count();
}
for (const user of reference.keys()) if (!seen.has(user)) mismatches++;
const offsets = store.offsets();
await store.close();
const exact = mismatches === 0 && caughtUp(offsets);
const repository = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: checkpointDir }) });
const kept = (await repository.list()).filter((c) => c.status === 'valid');
await repository.close();

say('summary');
say(
  `  clicks: ${EVENTS.toLocaleString('en-US')}   users: ${reference.size}   sessions: ${sessions.toLocaleString('en-US')} (${open} still open at the end of the stream)`,
);
say(`  state offsets: ${offsets.map((o) => `${o.partition}:${o.offset}`).join('  ')} (end of every partition)`);
say(
  `  users checked against the reference: ${reference.size}, mismatches: ${mismatches} -> ${exact ? 'EXACT: every click counted once' : 'WRONG'}`,
);
say(`  checkpoints kept (newest ${kept.length} by retention): ${kept.map((c) => c.id).join(', ')}`);
say(`  total ${ms(performance.now() - started)}`);
say();
say('try the CLI on what the demo left behind:');
say(`  npm run -s cli -- list --checkpoints ${path.relative(process.cwd(), checkpointDir) || '.'}`);
say(`  npm run -s cli -- verify --checkpoints ${path.relative(process.cwd(), checkpointDir) || '.'}`);
say(
  `  npm run -s cli -- export --state ${path.relative(process.cwd(), stateDir) || '.'} --partition ${TOPIC}:0 | head -3`,
);
await server?.close();
process.exit(exact ? 0 : 1);

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
}

function kb(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}

function positive(name: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`demo: --${name} must be a positive integer, got ${String(v)}`);
    process.exit(2);
  }
  return n;
}
