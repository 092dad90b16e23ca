// One member of the chaos test's consumer group, as a user would run it: a
// Pipeline on a KafkaSource, a StateStore with TTLs on the event-time clock,
// and a CheckpointRepository on the shared checkpoint location. Configured by
// environment (below); prints one line per event on stdout for the
// orchestrator (test/chaos/harness.ts), which kills, stops and restarts it.
//
// On SIGTERM it calls pipeline.stop() and then does nothing more: the process
// must end by itself once stop() settles (issue 8, item 9). If it is still
// alive 3 s later it prints what keeps it alive (ALIVE_AFTER_STOP).
import { CheckpointRepository, Pipeline, StateStore } from '../../src/index.js';
import { createSource } from '../kafka/support/source-factory.js';
import { openCheckpointStorage } from './checkpoint-location.js';
import { EventClock } from './event-clock.js';
import { sessionHandler } from './session-handler.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
};
const num = (name: string): number => Number(env(name));
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const topic = env('TOPIC');
const ttlMs = num('TTL_MS');
const clock = new EventClock();

const store = await StateStore.open({
  path: env('STATE_DIR'),
  clock,
  defaultTtlMs: ttlMs,
  sweepIntervalMs: num('SWEEP_INTERVAL_MS'),
  cacheEntries: num('CACHE_ENTRIES'),
});
const repository = new CheckpointRepository({
  storage: openCheckpointStorage(env('CHECKPOINTS')),
  observer: { corruptCheckpoint: (e) => say(`CORRUPT ${e.id} quarantined=${e.quarantined}`) },
});

const handler = sessionHandler(clock);

const source = createSource({
  clientId: `chaos-${env('MEMBER')}`,
  brokers: env('KAFKA_BROKERS').split(','),
  retries: 10,
  groupId: env('GROUP_ID'),
  topics: [topic],
  sessionTimeout: 4000,
  heartbeatInterval: 400,
  rebalanceTimeout: 8000,
  maxWaitMs: 500,
});
const pipeline: Pipeline = new Pipeline({
  source,
  store,
  handler,
  handleSignals: false,
  commitInterval: { records: 400, ms: 200 },
  errors: { retries: 3, backoffMs: num('BACKOFF_MS'), maxBackoffMs: num('BACKOFF_MS') * 2 },
  checkpoints: {
    repository,
    coordinator: {
      intervalMs: num('CHECKPOINT_INTERVAL_MS'),
      minPauseMs: 0,
      retention: { keepLast: 2 },
      observer: {
        checkpointCompleted: (e) => say(`CHECKPOINT_DONE ${e.id} ${e.partitions}`),
        checkpointFailed: (e) => say(`CHECKPOINT_FAILED ${e.error.message}`),
      },
    },
  },
  observers: [
    {
      recovered: (r) =>
        say(
          `RECOVERED ${r.partition} ${r.source} ${r.offset ?? '-'} ${r.checkpointId ?? '-'} skipped=${r.skipped.length}`,
        ),
      rebalanced: (c) => {
        clock.assigned(pipeline.assignment().map((tp) => tp.partition));
        say(
          `REBALANCED +${c.assigned.map((t) => t.partition).join(',')} -${c.revoked.map((t) => t.partition).join(',')}`,
        );
      },
      committed: () => {
        const owned = pipeline.assignment().map((tp) => {
          const o = store.offset(tp.topic, tp.partition);
          clock.committed(tp.partition, o);
          return `${tp.partition}=${o ?? '-'}`;
        });
        say(`COMMITTED ${owned.join(' ')}`);
      },
      commitFailed: (e) => say(`COMMIT_FAILED ${e.message}`),
      handlerFailed: (r, e, attempt) =>
        say(`HANDLER_FAILED ${r.partition} ${r.offset} attempt=${attempt} ${e.message}`),
      readinessChanged: (ready) => say(`READY ${ready}`),
      failed: (e) => say(`FAILED ${(e as Error & { code?: string }).code ?? '-'} ${e.message}`),
    },
  ],
});

// Evidence, if the process outlives its stop by 3 s: what still holds the event loop.
const watchExit = () =>
  setTimeout(() => say(`ALIVE_AFTER_STOP ${process.getActiveResourcesInfo().join(',')}`), 3000).unref();
process.once('SIGTERM', () => {
  say('STOPPING');
  pipeline.stop().then(
    () => {
      say('STOPPED');
      watchExit();
    },
    (err: unknown) => {
      say(`STOP_FAILED ${(err as Error).message}`);
      watchExit();
    },
  );
});
pipeline.done.catch((err: unknown) => {
  say(`DONE_FAILED ${(err as Error).message}`);
  process.exitCode = 2;
  setTimeout(() => process.exit(2), 2000).unref();
});
await pipeline.start();
say(`STARTED ${process.pid}`);
