// The @platformatic/kafka source (issue 12), on a real Kafka broker
// (KAFKA_BROKERS, or one started for the run). Needs Node >= 22.22: run it
// with `node scripts/node24.mjs npm run bench -- --only platformatic`.
// - Stateful pipeline throughput with PlatformaticSource against a bare
//   @platformatic/kafka consumer doing the same decoding into a Map on the
//   same topic; and the kafkajs source against bare kafkajs, beside it.
// - How long records stop flowing to a member that keeps its partitions
//   while a fourth member joins a group of three: eager kafkajs against
//   cooperative @platformatic/kafka, side by side.
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { startBroker, type BrokerProcess } from '../scripts/kafka/broker-process.js';
import {
  KafkaSource,
  Pipeline,
  PlatformaticSource,
  StateStore,
  type PartitionState,
  type Source,
} from '../src/index.js';
import { platformaticSupported } from '../src/kafka/platformatic-source.js';
import { alternate, figure, median, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;
type Balance = { count: number; sum: number };
type Client = 'kafkajs' | 'platformatic';

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  if (!platformaticSupported())
    throw new Error(
      `the platformatic bench needs Node >= 22.22 (this is ${process.version}): run it under scripts/node24.mjs`,
    );
  let broker: BrokerProcess | undefined;
  let brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
  if (brokers === undefined || brokers.length === 0) {
    ctx.log('starting a Kafka broker for the platformatic benchmark...');
    broker = await startBroker();
    brokers = broker.brokers;
  }
  try {
    return [...(await throughput(ctx, brokers)), ...(await joinPause(ctx, brokers))];
  } finally {
    await broker?.stop();
  }
}

function source(client: Client, brokers: string[], groupId: string, topic: string): Source {
  return client === 'platformatic'
    ? new PlatformaticSource({ brokers, groupId, topics: [topic], clientId: 'tidemark-bench' })
    : new KafkaSource({
        kafka: { clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING },
        groupId,
        topics: [topic],
      });
}

const record = (n: number) => {
  const account = `a${(n * 7919) % 10_000}`;
  return { key: account, value: JSON.stringify({ account, amount: (n % 13) - 3 }) };
};

async function throughput(ctx: BenchContext, brokers: string[]): Promise<BenchResult[]> {
  const N = ctx.quick ? 20_000 : 500_000;
  const kafka = new Kafka({ clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-plt-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let i = 0; i < N; i += 5000)
    await producer.send({ topic, messages: Array.from({ length: Math.min(5000, N - i) }, (_, j) => record(i + j)) });
  await producer.disconnect();
  ctx.log(`produced ${N} records to ${topic} (${PARTITIONS} partitions)`);

  let runNo = 0;
  const group = () => `bench-plt-${Date.now()}-${runNo++}`;
  const rounds = ctx.quick ? 1 : 3;
  const plt = await alternate(
    rounds,
    () => pipeline(ctx, 'platformatic', brokers, topic, group(), N),
    () => barePlatformatic(brokers, topic, group(), N),
  );
  const kjs = await alternate(
    rounds,
    () => pipeline(ctx, 'kafkajs', brokers, topic, group(), N),
    () => bareKafkajs(brokers, topic, group(), N),
  );
  const rate = (ms: number) => N / (ms / 1000);
  ctx.log(`platformatic: pipeline ${rate(plt.subject).toFixed(0)}/s, bare ${rate(plt.baseline).toFixed(0)}/s`);
  ctx.log(`kafkajs: pipeline ${rate(kjs.subject).toFixed(0)}/s, bare ${rate(kjs.baseline).toFixed(0)}/s`);
  return [
    figure(
      'platformatic: stateful pipeline throughput (PlatformaticSource, default commits)',
      rate(plt.subject),
      'records/s',
      rate(plt.baseline),
      'bare @platformatic/kafka stream, same decoding into a Map',
      true,
      { ratioAtLeast: 0.8 },
    ),
    figure(
      'platformatic: the same with the kafkajs source, same run',
      rate(kjs.subject),
      'records/s',
      rate(kjs.baseline),
      'bare kafkajs eachBatch, same decoding into a Map',
      true,
    ),
  ];
}

// Time from the first record to the last, so group joins do not count.
async function barePlatformatic(brokers: string[], topic: string, groupId: string, n: number): Promise<number> {
  const { Consumer, MessagesStreamModes } = await import('@platformatic/kafka');
  const consumer = new Consumer({
    clientId: 'tidemark-bench-bare',
    bootstrapBrokers: brokers,
    groupId,
    maxWaitTime: 100,
  });
  const state = new Map<string, Balance>();
  let seen = 0;
  let first = 0;
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
  let ms = 0;
  for await (const m of stream) {
    if (first === 0) first = performance.now();
    const { account, amount } = JSON.parse((m.value as Buffer).toString()) as { account: string; amount: number };
    const b = state.get(account);
    state.set(account, { count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount });
    if (++seen === n) {
      ms = performance.now() - first;
      break;
    }
  }
  await stream.close().catch(() => undefined);
  await consumer.close(true);
  return ms;
}

async function bareKafkajs(brokers: string[], topic: string, groupId: string, n: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'tidemark-bench-bare', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const state = new Map<string, Balance>();
  let seen = 0;
  let first = 0;
  let resolveDone!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (first === 0) first = performance.now();
      for (const m of batch.messages) {
        const { account, amount } = JSON.parse(m.value!.toString()) as { account: string; amount: number };
        const b = state.get(account);
        state.set(account, { count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount });
        resolveOffset(m.offset);
        if (++seen === n) resolveDone(performance.now() - first);
      }
      await heartbeat();
    },
  });
  const ms = await done;
  await consumer.disconnect();
  return ms;
}

async function pipeline(
  ctx: BenchContext,
  client: Client,
  brokers: string[],
  topic: string,
  groupId: string,
  n: number,
): Promise<number> {
  const store = await StateStore.open({ path: path.join(ctx.workDir, groupId, 'state') });
  let seen = 0;
  let first = 0;
  let resolveDone!: (ms: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const handler = (message: { value: Buffer | null }, state: PartitionState): void => {
    if (first === 0) first = performance.now();
    const { account, amount } = JSON.parse(message.value!.toString()) as { account: string; amount: number };
    state.update<Balance>(account, (b) => ({ count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount }));
    if (++seen === n) resolveDone(performance.now() - first);
  };
  const p = new Pipeline({ source: source(client, brokers, groupId, topic), store, handler, handleSignals: false });
  await p.start();
  const ms = await done;
  await p.stop();
  return ms;
}

// Three members consume a 12-partition topic fed at a steady rate; a fourth
// joins. For each of the first three, the longest time between two batches
// of a partition it owned before the join and still owns after (no batch:
// no record flowing to it), from the join until the group settled and a
// second more. The figure is the worst over the members.
async function joinPause(ctx: BenchContext, brokers: string[]): Promise<BenchResult[]> {
  const rounds = ctx.quick ? 1 : 3;
  const eager: number[] = [];
  const coop: number[] = [];
  for (let i = 0; i < rounds; i++) {
    eager.push(await pauseOnJoin(ctx, brokers, 'kafkajs'));
    coop.push(await pauseOnJoin(ctx, brokers, 'platformatic'));
  }
  const e = median(eager);
  const c = median(coop);
  ctx.log(
    `longest stop of a kept partition while a 4th member joins: eager kafkajs ${eager.join('/')} ms, cooperative ${coop.join('/')} ms`,
  );
  return [
    figure(
      'platformatic: longest stop of records to a member keeping its partitions, while a 4th member joins (cooperative)',
      c,
      'ms',
      e,
      'eager kafkajs source, same group and load',
      false,
    ),
  ];
}

async function pauseOnJoin(ctx: BenchContext, brokers: string[], client: Client): Promise<number> {
  const P = 12;
  const kafka = new Kafka({ clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-join-${client}-${Date.now()}`;
  const groupId = `bench-join-${client}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: P }], waitForLeaders: true });
  await admin.disconnect();
  const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  let producing = true;
  let n = 0;
  const feeding = (async () => {
    while (producing) {
      await producer.send({
        topic,
        messages: Array.from({ length: 120 }, (_, j) => ({ ...record(n + j), partition: (n + j) % P })),
      });
      n += 120;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  type Member = { p: Pipeline; batches: Map<number, number[]> };
  const members: Member[] = [];
  const start = async (name: string): Promise<Member> => {
    const batches = new Map<number, number[]>();
    const p = new Pipeline({
      source: source(client, brokers, groupId, topic),
      store: await StateStore.open({ path: path.join(ctx.workDir, `${groupId}-${name}`) }),
      handler: (m, state) => {
        state.update<number>(m.key!.toString(), (c) => (c ?? 0) + 1);
      },
      handleSignals: false,
      observers: [
        {
          batchProcessed: (tp) => {
            const list = batches.get(tp.partition) ?? [];
            list.push(performance.now());
            batches.set(tp.partition, list);
          },
        },
      ],
    });
    await p.start();
    const m = { p, batches };
    members.push(m);
    return m;
  };
  const settled = async (count: number) => {
    const deadline = performance.now() + 120_000;
    while (performance.now() < deadline) {
      const owned = members.slice(0, count).map((m) => m.p.positions().length);
      if (owned.reduce((a, b) => a + b, 0) === P && owned.every((o) => o > 0)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the group of ${count} did not settle`);
  };
  try {
    for (const name of ['m1', 'm2', 'm3']) await start(name);
    await settled(3);
    await new Promise((r) => setTimeout(r, 2000));
    const before = members.map((m) => new Set(m.p.positions().map((tp) => tp.partition)));
    const joinAt = performance.now();
    await start('m4');
    await settled(4);
    await new Promise((r) => setTimeout(r, 1000));
    const end = performance.now();
    let worst = 0;
    for (let i = 0; i < 3; i++) {
      const kept = members[i]!.p.positions()
        .map((tp) => tp.partition)
        .filter((p) => before[i]!.has(p));
      for (const partition of kept) {
        const times = [joinAt, ...(members[i]!.batches.get(partition) ?? []).filter((t) => t > joinAt && t < end), end];
        for (let j = 1; j < times.length; j++) worst = Math.max(worst, times[j]! - times[j - 1]!);
      }
    }
    ctx.log(`${client}: worst stop of a kept partition ${worst.toFixed(0)} ms`);
    return Math.round(worst);
  } finally {
    producing = false;
    await feeding.catch(() => undefined);
    await producer.disconnect();
    for (const m of members.reverse()) await m.p.stop().catch(() => undefined);
  }
}
