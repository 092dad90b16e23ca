import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointRepository, LocalDirectoryStorage, StateStore } from '../../src/index.js';
import { accountRecord, reference, type Balance } from '../helpers/accounts.js';
import { killHard, runTs, type ChildRun } from '../helpers/child.js';
import { brokers, createAdmin, createProducer, createTopic, uniqueGroupId } from '../helpers/kafka.js';
import { tmpDir } from '../helpers/tmp.js';

const PARTITIONS = 4;

interface Setup {
  topic: string;
  group: string;
  records: Array<{ key: string; value: string }>;
  ends: Map<number, string>;
  dir: string;
  checkpoints: string;
}

async function setup(count: number): Promise<Setup> {
  const admin = await createAdmin();
  const topic = await createTopic(admin, { partitions: PARTITIONS, prefix: 'tm-eo' });
  const producer = await createProducer();
  const records = Array.from({ length: count }, (_, i) => accountRecord(i));
  for (let i = 0; i < records.length; i += 2000) {
    await producer.send({ topic, messages: records.slice(i, i + 2000) });
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  const ends = new Map(offsets.map((o) => [o.partition, o.high]));
  expect([...ends.values()].every((e) => Number(e) > 0)).toBe(true);
  const dir = tmpDir('kafka-eo');
  return { topic, group: uniqueGroupId('tm-eo'), records, ends, dir, checkpoints: path.join(dir, 'checkpoints') };
}

function consumer(s: Setup, stateDir: string, env: Record<string, string> = {}): ChildRun {
  return runTs('test/fixtures/kafka-consumer.ts', [], {
    KAFKA_BROKERS: brokers().join(','),
    TOPIC: s.topic,
    GROUP_ID: s.group,
    STATE_DIR: stateDir,
    CHECKPOINT_DIR: s.checkpoints,
    ...env,
  });
}

/** Durable offset per partition (committed, or recovered at), the highest any of the runs has reported. */
function committed(runs: ChildRun[]): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const note = (p: number, o: string | undefined) => {
    if (o === undefined || o === '-') return;
    if (BigInt(o) > (out.get(p) ?? -1n)) out.set(p, BigInt(o));
  };
  for (const run of runs) {
    for (const line of run.lines) {
      if (line.startsWith('COMMITTED ')) {
        for (const part of line.slice(10).split(' ')) {
          const [p, o] = part.split('=');
          note(Number(p), o);
        }
      }
      const m = /^RECOVERED \S+:(\d+) \S+ (\S+) /.exec(line);
      if (m) note(Number(m[1]), m[2]);
    }
  }
  return out;
}

async function untilCaughtUp(s: Setup, runs: ChildRun[]): Promise<void> {
  await expect
    .poll(
      () => {
        const c = committed(runs);
        return [...s.ends].every(([p, end]) => c.get(p) === BigInt(end));
      },
      { timeout: 90_000, interval: 50 },
    )
    .toBe(true);
}

async function stopGracefully(run: ChildRun): Promise<void> {
  await run.waitFor(/^STARTED /); // its SIGTERM handler is installed
  run.proc.kill('SIGTERM');
  await run.waitFor(/^STOPPED$/);
  expect(await run.exited).toBe(0);
}

async function expectExact(s: Setup, stateDir: string): Promise<void> {
  const store = await StateStore.open({ path: stateDir });
  try {
    const got = new Map<string, Balance>();
    for (let p = 0; p < PARTITIONS; p++) {
      expect(store.offset(s.topic, p), `partition ${p}`).toBe(s.ends.get(p));
      for (const e of store.partition(s.topic, p).entries<Balance>()) got.set(e.key as string, e.value);
    }
    expect(got).toEqual(reference(s.records));
  } finally {
    await store.close();
  }
}

describe('exactly-once state on a real Kafka broker', () => {
  it('survives SIGKILL at random moments, during processing and during checkpoints', async () => {
    const s = await setup(50_000);
    const state = path.join(s.dir, 'state');
    const runs: ChildRun[] = [];
    let duringCheckpoint = 0;
    const atEnd = () => {
      const c = committed(runs);
      return [...s.ends].every(([p, end]) => c.get(p) === BigInt(end));
    };
    for (let round = 0; round < 6; round++) {
      const run = consumer(s, state);
      runs.push(run);
      await run.waitFor(/^STARTED /);
      const commits = 2 + Math.floor(Math.random() * 6);
      // Kill right as a checkpoint starts writing (odd rounds) or after a
      // few commits, in the middle of processing (even rounds); and if the
      // stream is done already, kill it anyway.
      const [, what] = await run.waitFor(
        /^(CHECKPOINT_STARTED|COMMITTED|RECOVERED) /,
        (m) =>
          (round % 2 === 1
            ? m[1] === 'CHECKPOINT_STARTED'
            : run.lines.filter((l) => l.startsWith('COMMITTED ')).length >= commits) || atEnd(),
      );
      if (what === 'CHECKPOINT_STARTED') duringCheckpoint++;
      await killHard(run);
    }
    expect(duringCheckpoint).toBeGreaterThanOrEqual(1);
    const last = consumer(s, state);
    runs.push(last);
    await untilCaughtUp(s, runs);
    await stopGracefully(last);
    await expectExact(s, state);
  }, 240_000);

  it('after a lost disk, restores from the newest checkpoint and ends exact', async () => {
    const s = await setup(20_000);
    const state = path.join(s.dir, 'state');
    const first = consumer(s, state);
    await first.waitFor(/^CHECKPOINT_DONE \S+ 4$/); // one holding every partition
    await killHard(first);
    fs.rmSync(state, { recursive: true, force: true });
    const second = consumer(s, state);
    const recovered = await Promise.all(
      [...Array(PARTITIONS).keys()].map((p) => second.waitFor(new RegExp(`^RECOVERED ${s.topic}:${p} (\\S+) `))),
    );
    expect(recovered.map((m) => m[1])).toEqual(['checkpoint', 'checkpoint', 'checkpoint', 'checkpoint']);
    await untilCaughtUp(s, [second]);
    await stopGracefully(second);
    await expectExact(s, state);
  }, 180_000);

  it('with the newest checkpoint corrupted and the local state lost, falls back to the previous one', async () => {
    const s = await setup(40_000);
    const state = path.join(s.dir, 'state');
    const first = consumer(s, state);
    await first.waitFor(/^CHECKPOINT_DONE \S+ 4$/); // one holding every partition...
    await stopGracefully(first); // ...and the final one
    const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: s.checkpoints }) });
    const valid = (await repo.list()).filter((c) => c.status === 'valid');
    expect(valid.length).toBeGreaterThanOrEqual(2);
    const newest = valid[0]!;
    // flip one bit in the middle of partition 0's segment
    const seg = newest.partitions.find((p) => p.partition === 0)!;
    const file = path.join(s.checkpoints, newest.id, seg.file);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    fs.writeFileSync(file, bytes);
    fs.rmSync(state, { recursive: true, force: true });

    const second = consumer(s, state);
    const [, source, , id, skipped] = await second.waitFor(
      new RegExp(`^RECOVERED ${s.topic}:0 (\\S+) (\\S+) (\\S+) skipped=(\\d+)`),
    );
    expect(source).toBe('checkpoint');
    expect(id).not.toBe(newest.id);
    expect(Number(skipped)).toBeGreaterThanOrEqual(1);
    await second.waitFor(new RegExp(`^CORRUPT ${newest.id} quarantined=true`));
    await untilCaughtUp(s, [second]);
    await stopGracefully(second);
    await expectExact(s, state);
    expect((await repo.listQuarantined()).map((c) => c.id)).toContain(newest.id);
    await repo.close();
  }, 180_000);

  it('hands partitions over when one of two consumers stops, restoring them from checkpoints', async () => {
    const s = await setup(50_000);
    const a = consumer(s, path.join(s.dir, 'a'));
    await a.waitFor(/^STARTED /);
    const b = consumer(s, path.join(s.dir, 'b'));
    // both own partitions after the rebalance B's join causes
    await b.waitFor(/^REBALANCED \+\d/);
    await a.waitFor(/^REBALANCED \S* -\d/);
    await stopGracefully(a);
    // the survivor takes the rest, restoring them from the checkpoints
    await b.waitFor(/^RECOVERED \S+ checkpoint /);
    await untilCaughtUp(s, [b]);
    await stopGracefully(b);
    await expectExact(s, path.join(s.dir, 'b'));
  }, 180_000);
});
