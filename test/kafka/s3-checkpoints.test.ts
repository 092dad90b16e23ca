// The lost-disk and hand-over scenarios of exactly-once.test.ts with the
// checkpoints in S3: a real broker and a real S3 server (versitygw, started
// here by scripts/s3/s3.mjs; a server that cannot start fails the file).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type S3Server } from '../../scripts/s3/s3.mjs';
import { CheckpointRepository, s3StorageFromUrl, StateStore } from '../../src/index.js';
import { accountRecord, reference, type Balance } from '../helpers/accounts.js';
import { killHard, runTs, type ChildRun } from '../helpers/child.js';
import { brokers, createAdmin, createProducer, createTopic, uniqueGroupId } from '../helpers/kafka.js';
import { tmpDir, uniqueName } from '../helpers/tmp.js';

const PARTITIONS = 4;
let server: S3Server;

beforeAll(async () => {
  server = await startServer();
}, 300_000);
afterAll(async () => {
  await server?.stop();
});

function awsEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKey,
    AWS_SECRET_ACCESS_KEY: server.secretKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

interface Setup {
  topic: string;
  group: string;
  records: Array<{ key: string; value: string }>;
  ends: Map<number, string>;
  dir: string;
  url: string;
}

async function setup(count: number): Promise<Setup> {
  const admin = await createAdmin();
  const topic = await createTopic(admin, { partitions: PARTITIONS, prefix: 'tm-s3' });
  const producer = await createProducer();
  const records = Array.from({ length: count }, (_, i) => accountRecord(i));
  for (let i = 0; i < records.length; i += 2000) await producer.send({ topic, messages: records.slice(i, i + 2000) });
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
  const bucket = uniqueName('tm').toLowerCase();
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  return {
    topic,
    group: uniqueGroupId('tm-s3'),
    records,
    ends,
    dir: tmpDir('kafka-s3'),
    url: `s3://${bucket}/group/checkpoints`,
  };
}

function consumer(s: Setup, stateDir: string): ChildRun {
  return runTs('test/fixtures/kafka-consumer.ts', [], {
    KAFKA_BROKERS: brokers().join(','),
    TOPIC: s.topic,
    GROUP_ID: s.group,
    STATE_DIR: stateDir,
    CHECKPOINT_DIR: s.url,
    ...awsEnv(),
  });
}

function committed(runs: ChildRun[]): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const note = (p: number, o: string | undefined) => {
    if (o !== undefined && o !== '-' && BigInt(o) > (out.get(p) ?? -1n)) out.set(p, BigInt(o));
  };
  for (const run of runs) {
    for (const line of run.lines) {
      if (line.startsWith('COMMITTED '))
        for (const part of line.slice(10).split(' ')) note(Number(part.split('=')[0]), part.split('=')[1]);
      const m = /^RECOVERED \S+:(\d+) \S+ (\S+) /.exec(line);
      if (m) note(Number(m[1]), m[2]);
    }
  }
  return out;
}

async function untilCaughtUp(s: Setup, runs: ChildRun[]): Promise<void> {
  await expect
    .poll(() => [...s.ends].every(([p, end]) => committed(runs).get(p) === BigInt(end)), {
      timeout: 90_000,
      interval: 50,
    })
    .toBe(true);
}

async function stopGracefully(run: ChildRun): Promise<void> {
  await run.waitFor(/^STARTED /);
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

describe('exactly-once state with checkpoints in S3, on a real Kafka broker', () => {
  it('after a lost disk, restores every partition from the newest S3 checkpoint and ends exact', async () => {
    const s = await setup(20_000);
    const state = path.join(s.dir, 'state');
    const first = consumer(s, state);
    await first.waitFor(/^CHECKPOINT_DONE \S+ 4$/);
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
    // What the consumer left in the bucket verifies.
    const repo = new CheckpointRepository({ storage: s3StorageFromUrl(s.url, awsEnv()) });
    const results = await repo.verify();
    expect(results.length).toBeGreaterThan(0);
    expect(results.every((r) => r.status === 'valid')).toBe(true);
    await repo.close();
  }, 180_000);

  it('hands partitions over when one of two consumers stops, the survivor restoring them from S3', async () => {
    const s = await setup(50_000);
    const a = consumer(s, path.join(s.dir, 'a'));
    await a.waitFor(/^STARTED /);
    const b = consumer(s, path.join(s.dir, 'b'));
    await b.waitFor(/^REBALANCED \+\d/);
    await a.waitFor(/^REBALANCED \S* -\d/);
    await stopGracefully(a);
    await b.waitFor(/^RECOVERED \S+ checkpoint /);
    await untilCaughtUp(s, [b]);
    await stopGracefully(b);
    await expectExact(s, path.join(s.dir, 'b'));
  }, 180_000);
});
