// Pipeline figures on a real Kafka broker (KAFKA_BROKERS, or one started for
// the run): stateful pipeline throughput against a bare kafkajs eachBatch
// consumer doing the same decoding work, and with periodic checkpoints on
// against off.
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startBroker, type BrokerProcess } from '../scripts/kafka/broker-process.js';
import {
  CheckpointRepository,
  KafkaSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type PartitionState,
} from '../src/index.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;
type Balance = { count: number; sum: number };

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  let broker: BrokerProcess | undefined;
  let brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
  if (brokers === undefined || brokers.length === 0) {
    ctx.log('starting a Kafka broker for the pipeline benchmark...');
    broker = await startBroker();
    brokers = broker.brokers;
  }
  try {
    return await measure(ctx, brokers);
  } finally {
    await broker?.stop();
  }
}

async function measure(ctx: BenchContext, brokers: string[]): Promise<BenchResult[]> {
  const N = ctx.quick ? 20_000 : 1_000_000;
  const kafka = new Kafka({ clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING });
  const topic = `bench-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const BATCH = 5000;
  for (let i = 0; i < N; i += BATCH) {
    await producer.send({
      topic,
      messages: Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => {
        const n = i + j;
        const account = `a${(n * 7919) % 10_000}`;
        return { key: account, value: JSON.stringify({ account, amount: (n % 13) - 3 }) };
      }),
    });
  }
  await producer.disconnect();
  await admin.disconnect();
  ctx.log(`produced ${N} records to ${topic} (${PARTITIONS} partitions)`);

  let runNo = 0;
  const bare = () => bareConsumer(brokers, topic, `bench-bare-${Date.now()}-${runNo++}`, N);
  const tidemark = (checkpoints: boolean, commitRecords?: number) => () =>
    pipeline(ctx, brokers, topic, `bench-tm-${Date.now()}-${runNo++}`, N, checkpoints, commitRecords);
  const rounds = ctx.quick ? 1 : 3;
  const vsBare = await alternate(rounds, tidemark(false), bare);
  const frequent = await alternate(rounds, tidemark(false, 1000), bare);
  const ckpt = await alternate(rounds, tidemark(true), tidemark(false));
  const rate = (ms: number) => N / (ms / 1000);
  ctx.log(`pipeline ${rate(vsBare.subject).toFixed(0)}/s, bare kafkajs ${rate(vsBare.baseline).toFixed(0)}/s`);
  ctx.log(
    `pipeline committing every 1,000 records ${rate(frequent.subject).toFixed(0)}/s, bare kafkajs ${rate(frequent.baseline).toFixed(0)}/s`,
  );
  ctx.log(`with checkpoints ${rate(ckpt.subject).toFixed(0)}/s, without ${rate(ckpt.baseline).toFixed(0)}/s`);
  const bareName = 'bare kafkajs eachBatch, same decoding into a Map';
  return [
    figure(
      'pipeline: stateful throughput (LMDB state, default commits: 50,000 records or 1 s)',
      rate(vsBare.subject),
      'records/s',
      rate(vsBare.baseline),
      bareName,
      true,
      { ratioAtLeast: 0.8 },
    ),
    figure(
      'pipeline: stateful throughput committing every 1,000 records',
      rate(frequent.subject),
      'records/s',
      rate(frequent.baseline),
      bareName,
      true,
    ),
    figure(
      'pipeline: throughput with checkpoints every second',
      rate(ckpt.subject),
      'records/s',
      rate(ckpt.baseline),
      'same pipeline, checkpoints off',
      true,
    ),
  ];
}

// Time from the first record to the last, so group joins do not count.
async function bareConsumer(brokers: string[], topic: string, groupId: string, n: number): Promise<number> {
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
  brokers: string[],
  topic: string,
  groupId: string,
  n: number,
  checkpoints: boolean,
  commitRecords?: number,
): Promise<number> {
  const dir = path.join(ctx.workDir, groupId);
  const store = await StateStore.open({ path: path.join(dir, 'state') });
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
  const p = new Pipeline({
    source: new KafkaSource({
      kafka: { clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING },
      groupId,
      topics: [topic],
    }), // the source's default consumer settings
    store,
    handler,
    handleSignals: false,
    ...(commitRecords === undefined ? {} : { commitInterval: { records: commitRecords } }),
    ...(checkpoints
      ? {
          checkpoints: {
            repository: new CheckpointRepository({
              storage: new LocalDirectoryStorage({ path: path.join(dir, 'checkpoints') }),
            }),
            coordinator: { intervalMs: 1000, minPauseMs: 0 },
          },
        }
      : {}),
  });
  await p.start();
  const ms = await done;
  await p.stop();
  return ms;
}
