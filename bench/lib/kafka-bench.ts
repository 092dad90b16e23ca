// Scaffolding shared by the Kafka benchmarks (pipeline.bench.ts,
// platformatic.bench.ts, profile-platformatic.ts): the broker, the topic of
// balance records, the bare kafkajs consumer and a timed pipeline run.
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { startBroker, type BrokerProcess } from '../../scripts/kafka/broker-process.js';
import { Pipeline, StateStore, type PartitionState, type PipelineOptions, type Source } from '../../src/index.js';
import type { BenchContext } from './result.js';

/**
 * How long a consumer took to process a topic, in ms, measured two ways:
 * - `fromFirst`: from the first record handled to the n-th (excludes the
 *   group join, and also whatever the client did before handing out its
 *   first record: with @platformatic/kafka's default 50 MB fetch that is
 *   the whole topic's fetch and decoding);
 * - `fromAssigned`: from the group handing the member its partitions to the
 *   n-th record (excludes the join only; includes the first fetch and its
 *   decoding, and for a pipeline the partitions' recovery).
 */
export type Timing = { fromFirst: number; fromAssigned: number };

/** What the handler keeps per account. */
export type Balance = { count: number; sum: number };

/** The n-th record: `{account, amount}` over 10,000 accounts, keyed by account. */
export function balanceRecord(n: number): { key: string; value: string } {
  const account = `a${(n * 7919) % 10_000}`;
  return { key: account, value: JSON.stringify({ account, amount: (n % 13) - 3 }) };
}

/** Decodes one record's value and adds it to `state` (the work every consumer in these benches does). */
export function applyToMap(state: Map<string, Balance>, value: Buffer): void {
  const { account, amount } = JSON.parse(value.toString()) as { account: string; amount: number };
  const b = state.get(account);
  state.set(account, { count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount });
}

/** Runs `fn` against KAFKA_BROKERS, or a broker started for the run (and stopped after). */
export async function withBrokers<T>(
  ctx: BenchContext,
  name: string,
  fn: (brokers: string[]) => Promise<T>,
): Promise<T> {
  let broker: BrokerProcess | undefined;
  let brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
  if (brokers === undefined || brokers.length === 0) {
    ctx.log(`starting a Kafka broker for the ${name} benchmark...`);
    broker = await startBroker();
    brokers = broker.brokers;
  }
  try {
    return await fn(brokers);
  } finally {
    await broker?.stop();
  }
}

/** Creates `topic` with `partitions` partitions and produces `n` balance records to it, 5,000 per send. */
export async function fillTopic(brokers: string[], topic: string, partitions: number, n: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const BATCH = 5000;
  for (let i = 0; i < n; i += BATCH)
    await producer.send({
      topic,
      messages: Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => balanceRecord(i + j)),
    });
  await producer.disconnect();
}

/**
 * A bare kafkajs `eachBatch` consumer doing the same decoding into a Map, in
 * a new group from the beginning. Returns the ms from the first record to
 * the n-th, so group joins do not count.
 */
export async function bareKafkajs(brokers: string[], topic: string, groupId: string, n: number): Promise<Timing> {
  const kafka = new Kafka({ clientId: 'tidemark-bench-bare', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const state = new Map<string, Balance>();
  let seen = 0;
  let first = 0;
  let assigned = 0;
  let resolveDone!: (t: Timing) => void;
  const done = new Promise<Timing>((r) => (resolveDone = r));
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (assigned === 0) assigned = performance.now();
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (first === 0) first = performance.now();
      for (const m of batch.messages) {
        applyToMap(state, m.value!);
        resolveOffset(m.offset);
        if (++seen === n) resolveDone(since(first, assigned));
      }
      await heartbeat();
    },
  });
  const t = await done;
  await consumer.disconnect();
  return t;
}

function since(first: number, assigned: number): Timing {
  const now = performance.now();
  return { fromFirst: now - first, fromAssigned: now - (assigned === 0 ? first : assigned) };
}

/**
 * A stateful pipeline on `source` whose handler keeps a Balance per account
 * in LMDB state (a store under ctx.workDir/groupId). Returns the ms from the
 * first record to the n-th, so group joins do not count.
 */
export async function timedPipeline(
  ctx: BenchContext,
  source: Source,
  groupId: string,
  n: number,
  options: Partial<Omit<PipelineOptions, 'source' | 'store' | 'handler'>> = {},
): Promise<Timing> {
  const store = await StateStore.open({ path: path.join(ctx.workDir, groupId, 'state') });
  let seen = 0;
  let first = 0;
  let assigned = 0;
  let resolveDone!: (t: Timing) => void;
  const done = new Promise<Timing>((r) => (resolveDone = r));
  const handler = (message: { value: Buffer | null }, state: PartitionState): void => {
    if (first === 0) first = performance.now();
    const { account, amount } = JSON.parse(message.value!.toString()) as { account: string; amount: number };
    state.update<Balance>(account, (b) => ({ count: (b?.count ?? 0) + 1, sum: (b?.sum ?? 0) + amount }));
    if (++seen === n) resolveDone(since(first, assigned));
  };
  const onAssigned = {
    rebalanced: (change: { assigned: unknown[] }) => {
      if (assigned === 0 && change.assigned.length > 0) assigned = performance.now();
    },
  };
  const observers = [onAssigned, ...(options.observers ?? [])];
  const p = new Pipeline({ handleSignals: false, ...options, observers, source, store, handler });
  await p.start();
  const t = await done;
  await p.stop();
  return t;
}

/**
 * A bare @platformatic/kafka `MessagesStream` doing the same decoding into a
 * Map, in a new group from the beginning, with the fetch settings given
 * (the client's own defaults otherwise), committing nothing. Needs Node >= 22.22.
 */
export async function barePlatformatic(
  brokers: string[],
  topic: string,
  groupId: string,
  n: number,
  fetch: { maxWaitTime?: number; maxBytes?: number; maxBytesPerPartition?: number; highWaterMark?: number } = {},
): Promise<Timing> {
  const { Consumer, MessagesStreamModes } = await import('@platformatic/kafka');
  // autocommit off, as the source: with the client's default it would commit
  // after every fetch (the source never does), and its messages would skip
  // the per-message bound commit function the source's messages get.
  const consumer = new Consumer({
    ...fetch,
    clientId: 'tidemark-bench-bare',
    bootstrapBrokers: brokers,
    groupId,
    autocommit: false,
  });
  let assigned = 0;
  consumer.on('consumer:group:join', () => {
    if (assigned === 0) assigned = performance.now();
  });
  const state = new Map<string, Balance>();
  let seen = 0;
  let first = 0;
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
  let t: Timing = { fromFirst: 0, fromAssigned: 0 };
  for await (const m of stream) {
    if (first === 0) first = performance.now();
    applyToMap(state, m.value as Buffer);
    if (++seen === n) {
      t = since(first, assigned);
      break;
    }
  }
  await stream.close().catch(() => undefined);
  await consumer.close(true);
  return t;
}
