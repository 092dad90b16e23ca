import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type ExpiredEntry,
  type PartitionState,
  type PipelineMessage,
  type RecoveryReport,
} from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 'sessions';
const p0 = { topic: TOPIC, partition: 0 };
const p1 = { topic: TOPIC, partition: 1 };

// Sessions extended by every click, expiring after 1 s of the shared clock.
const handler = (m: PipelineMessage, state: PartitionState) => {
  state.update<number>(m.key!.toString(), (n) => (n ?? 0) + 1, { ttlMs: 1000 });
};

async function member(log: InProcessLog, dir: string, name: string, clock: ManualClock, expired: ExpiredEntry[]) {
  const store = await StateStore.open({
    path: path.join(dir, name),
    clock,
    sweepIntervalMs: 0,
    onExpired: (e) => expired.push(e),
  });
  const source = new InProcessSource({ log, topics: [TOPIC], partitions: [], maxBatchRecords: 50 });
  const reports: RecoveryReport[] = [];
  let failure: Error | undefined;
  const pipeline = new Pipeline({
    source,
    store,
    handler,
    handleSignals: false,
    commitInterval: { records: 100, ms: 20 },
    observers: [{ recovered: (r) => reports.push(r), failed: (e) => (failure = e) }],
    checkpoints: {
      repository: new CheckpointRepository({
        storage: new LocalDirectoryStorage({ path: path.join(dir, 'checkpoints') }),
      }),
    },
  });
  await pipeline.start();
  const caughtUp = () =>
    expect
      .poll(
        () =>
          pipeline.positions().every((p) => p.offset === log.endOffset(p)) &&
          pipeline.positions().length === pipeline.assignment().length,
        {
          timeout: 20_000,
          interval: 5,
        },
      )
      .toBe(true);
  return { store, source, pipeline, reports, caughtUp, failure: () => failure };
}

describe('TTL sweep and a partition handed over and back', () => {
  it("a sweep between a partition's revocation and its return neither reports its sessions nor fails its restore", async () => {
    const dir = tmpDir('handover');
    const clock = new ManualClock(0);
    const log = new InProcessLog();
    log.createTopic(TOPIC, 2);
    const clicks = (partition: number, n: number) =>
      log.append(
        TOPIC,
        Array.from({ length: n }, (_, i) => ({ key: `user-${partition}-${i % 20}`, value: 'click', partition })),
      );
    clicks(0, 200);
    clicks(1, 200);
    const expiredA: ExpiredEntry[] = [];
    const expiredB: ExpiredEntry[] = [];
    const a = await member(log, dir, 'a', clock, expiredA);
    const b = await member(log, dir, 'b', clock, expiredB);
    await a.source.reassign([p0, p1]);
    await a.caughtUp();
    await a.source.reassign([p0]); // p1 revoked: committed, checkpointed, released
    await b.source.reassign([p1]);
    expect(b.reports.at(-1)).toMatchObject({ partition: 1, source: 'checkpoint' });
    clock.advance(500);
    clicks(1, 100); // b extends p1's sessions to t = 1500...
    await b.caughtUp();
    await b.source.reassign([]); // ...and hands p1 back with a newer checkpoint
    clock.advance(700); // t = 1200: a's old copy of p1 (until t = 1000) has expired, b's has not

    await a.store.sweep();
    expect(expiredA.every((e) => e.partition === 0)).toBe(true);
    expect(expiredA.length).toBe(20);
    await a.source.reassign([p0, p1]);
    expect(a.failure()).toBeUndefined();
    expect(a.reports.at(-1)).toMatchObject({ partition: 1, source: 'checkpoint', offset: '300' });
    await a.caughtUp();
    expect(a.store.partition(TOPIC, 1).get('user-1-0')).toBe(15);
    await a.pipeline.stop();
    await b.pipeline.stop();
  });
});
