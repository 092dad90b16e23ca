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
import { KafkaSource, Pipeline, PlatformaticSource, StateStore, type Source } from '../src/index.js';
import { PLATFORMATIC_CONSUMER_DEFAULTS, platformaticSupported } from '../src/kafka/platformatic-source.js';
import {
  balanceRecord,
  bareKafkajs,
  barePlatformatic,
  fillTopic,
  type Timing,
  timedPipeline,
  withBrokers,
} from './lib/kafka-bench.js';
import { alternate, figure, median, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;
type Client = 'kafkajs' | 'platformatic';

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  if (!platformaticSupported())
    throw new Error(
      `the platformatic bench needs Node >= 22.22 (this is ${process.version}): run it under scripts/node24.mjs`,
    );
  return withBrokers(ctx, 'platformatic', async (brokers) => [
    ...(await throughput(ctx, brokers)),
    ...(await joinPause(ctx, brokers)),
  ]);
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

async function throughput(ctx: BenchContext, brokers: string[]): Promise<BenchResult[]> {
  const N = ctx.quick ? 20_000 : 500_000;
  const topic = `bench-plt-${Date.now()}`;
  await fillTopic(brokers, topic, PARTITIONS, N);
  ctx.log(`produced ${N} records to ${topic} (${PARTITIONS} partitions)`);

  let runNo = 0;
  const group = () => `bench-plt-${Date.now()}-${runNo++}`;
  const rounds = ctx.quick ? 1 : 3;
  // The bare client runs with the source's fetch settings (same fetch
  // size, read-ahead and wait), so only what the pipeline adds differs.
  const plt = await pair(
    rounds,
    () => pipeline(ctx, 'platformatic', brokers, topic, group(), N),
    () => barePlatformatic(brokers, topic, group(), N, PLATFORMATIC_CONSUMER_DEFAULTS),
  );
  const kjs = await pair(
    rounds,
    () => pipeline(ctx, 'kafkajs', brokers, topic, group(), N),
    () => bareKafkajs(brokers, topic, group(), N),
  );
  const rate = (ms: number) => N / (ms / 1000);
  for (const [name, t] of [
    ['platformatic', plt],
    ['kafkajs', kjs],
  ] as const)
    ctx.log(
      `${name}: pipeline ${rate(t.first.subject).toFixed(0)}/s, bare ${rate(t.first.baseline).toFixed(0)}/s from the first record; ` +
        `pipeline ${rate(t.assigned.subject).toFixed(0)}/s, bare ${rate(t.assigned.baseline).toFixed(0)}/s from the assignment`,
    );
  const barePlt = 'bare @platformatic/kafka stream, same decoding into a Map, same fetch settings';
  const bareKjs = 'bare kafkajs eachBatch, same decoding into a Map';
  return [
    figure(
      'platformatic: stateful pipeline throughput (PlatformaticSource, default commits)',
      rate(plt.first.subject),
      'records/s',
      rate(plt.first.baseline),
      `${barePlt}; from the first record`,
      true,
      { ratioAtLeast: 0.8 },
    ),
    figure(
      'platformatic: stateful pipeline throughput from the assignment (PlatformaticSource, default commits)',
      rate(plt.assigned.subject),
      'records/s',
      rate(plt.assigned.baseline),
      `${barePlt}; from the assignment, fetch and decoding included`,
      true,
      { ratioAtLeast: 0.8 },
    ),
    figure(
      'platformatic: the same with the kafkajs source, same run',
      rate(kjs.first.subject),
      'records/s',
      rate(kjs.first.baseline),
      `${bareKjs}; from the first record`,
      true,
    ),
    figure(
      'platformatic: the same with the kafkajs source from the assignment, same run',
      rate(kjs.assigned.subject),
      'records/s',
      rate(kjs.assigned.baseline),
      `${bareKjs}; from the assignment`,
      true,
    ),
  ];
}

// Alternates the two, keeping both timings of every round; medians of each.
async function pair(
  rounds: number,
  subject: () => Promise<Timing>,
  baseline: () => Promise<Timing>,
): Promise<Record<'first' | 'assigned', { subject: number; baseline: number }>> {
  const runs = { subject: [] as Timing[], baseline: [] as Timing[] };
  await alternate(
    rounds,
    async () => {
      runs.subject.push(await subject());
      return 0;
    },
    async () => {
      runs.baseline.push(await baseline());
      return 0;
    },
  );
  const of = (k: keyof Timing) => ({
    subject: median(runs.subject.map((t) => t[k])),
    baseline: median(runs.baseline.map((t) => t[k])),
  });
  return { first: of('fromFirst'), assigned: of('fromAssigned') };
}

function pipeline(
  ctx: BenchContext,
  client: Client,
  brokers: string[],
  topic: string,
  groupId: string,
  n: number,
): Promise<Timing> {
  return timedPipeline(ctx, source(client, brokers, groupId, topic), groupId, n);
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
        messages: Array.from({ length: 120 }, (_, j) => ({ ...balanceRecord(n + j), partition: (n + j) % P })),
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
    const owned = members.map((m) => m.p.positions().map((tp) => tp.partition));
    throw new Error(
      `the group of ${count} did not settle (${client}): partitions with a position per member ${JSON.stringify(owned)}`,
    );
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
