// kafkajs helpers for tests against the real broker (test/kafka/**), after
// kafkajs's own testHelpers: every test gets its own topics and groups, and
// everything it creates is disconnected or deleted when it finishes.
//
// Clients are quiet (logLevel NOTHING); KAFKAJS_LOG_LEVEL=debug (or info,
// warn, error), read by kafkajs itself, brings their logs back.
import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type ConsumerGroupJoinEvent,
  type EachMessagePayload,
  type ITopicConfig,
  type Message,
  type Producer,
  type ProducerConfig,
  type RecordMetadata,
} from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';

/** Bootstrap addresses of the test broker, provided by test/kafka/global-setup.ts. */
export function brokers(): string[] {
  const list = inject('kafkaBrokers');
  if (!list || list.length === 0) {
    throw new Error(
      'no Kafka broker was provided: Kafka helpers work in the "kafka" test project (test/kafka/**), whose globalSetup starts one',
    );
  }
  return list;
}

/** A kafkajs client on the test broker. */
export function createKafka(clientId = 'tidemark-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers(),
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

export function uniqueTopicName(prefix = 'tm-topic'): string {
  return `${prefix}-${randomUUID()}`;
}

export function uniqueGroupId(prefix = 'tm-group'): string {
  return `${prefix}-${randomUUID()}`;
}

/** A connected admin client, disconnected when the test finishes. */
export async function createAdmin(kafka = createKafka()): Promise<Admin> {
  const admin = kafka.admin();
  await admin.connect();
  onTestFinished(() => admin.disconnect());
  return admin;
}

/**
 * A connected producer, disconnected when the test finishes. It partitions
 * keys as the Java client does (murmur2), kafkajs 2's default, named here so
 * kafkajs does not warn about it.
 */
export async function createProducer(config: ProducerConfig = {}, kafka = createKafka()): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
  await producer.connect();
  onTestFinished(() => producer.disconnect());
  return producer;
}

/**
 * A consumer (not yet connected) in a fresh group unless one is given,
 * disconnected when the test finishes. Session and heartbeat times are short
 * (the test broker allows sessions down to 1 s) so rebalances after a lost
 * member do not hold a test up.
 */
export function createConsumer(config: Partial<ConsumerConfig> = {}, kafka = createKafka()): Consumer {
  const consumer = kafka.consumer({
    groupId: uniqueGroupId(),
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    ...config,
  });
  onTestFinished(() => consumer.disconnect());
  return consumer;
}

export interface CreateTopicOptions {
  partitions?: number;
  /** Topic configs, e.g. `{ name: 'cleanup.policy', value: 'compact' }`. */
  configEntries?: ITopicConfig['configEntries'];
  /** Prefix of the generated (unique) name. */
  prefix?: string;
}

/**
 * Creates a topic with a unique name and waits until every partition has a
 * leader; the topic is deleted when the test finishes (after the clients the
 * test made later are disconnected: onTestFinished hooks run last-in, first-out).
 */
export async function createTopic(admin: Admin, options: CreateTopicOptions = {}): Promise<string> {
  // kafkajs's createTopics (waitForLeaders) sometimes fails with "This server
  // does not host this topic-partition" on a broker that just started (seen in
  // CI on 3.9.1 and 4.4.0): try again under a new name, a few times.
  for (let attempt = 1; ; attempt++) {
    const topic = uniqueTopicName(options.prefix);
    onTestFinished(async () => {
      // Its own admin: the test may have disconnected the one it passed in.
      const cleaner = createKafka('tidemark-test-cleanup').admin();
      await cleaner.connect();
      try {
        await cleaner.deleteTopics({ topics: [topic] });
      } catch (err) {
        // A name whose creation failed may not exist.
        if (!/does not host this topic-partition/.test(String(err))) throw err;
      } finally {
        await cleaner.disconnect();
      }
    });
    let created: boolean;
    try {
      created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: options.partitions ?? 1,
            replicationFactor: 1,
            ...(options.configEntries ? { configEntries: options.configEntries } : {}),
          },
        ],
      });
    } catch (err) {
      if (attempt < 4 && /does not host this topic-partition/.test(String(err))) continue;
      throw err;
    }
    if (!created) throw new Error(`topic ${topic} already existed`);
    return topic;
  }
}

/** Produces `messages` to `topic` in one request (acks from all in-sync replicas) and disconnects. */
export async function produce(topic: string, messages: Message[]): Promise<RecordMetadata[]> {
  const producer = createKafka('tidemark-test-producer').producer({
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    return await producer.send({ topic, messages, acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Resolves with the consumer's next GROUP_JOIN event (its member id, leader
 * and assignment); rejects if the consumer crashes first or nothing happens
 * within `timeoutMs`. Call it before `consumer.run()`.
 */
export function waitForConsumerToJoinGroup(
  consumer: Consumer,
  { timeoutMs = 30_000 } = {},
): Promise<ConsumerGroupJoinEvent> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      offJoin();
      offCrash();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`consumer did not join its group within ${timeoutMs} ms`));
    }, timeoutMs);
    const offJoin = consumer.on(consumer.events.GROUP_JOIN, (event) => {
      done();
      resolve(event);
    });
    const offCrash = consumer.on(consumer.events.CRASH, (event) => {
      done();
      reject(event.payload.error);
    });
  });
}

export interface MessageCollector {
  /** Pass as `eachMessage` to `consumer.run()`. */
  eachMessage: (payload: EachMessagePayload) => Promise<void>;
  /** Every message received so far, in arrival order (it keeps growing past `count`). */
  received: EachMessagePayload[];
  /** Resolves once `count` messages have arrived. */
  done: Promise<EachMessagePayload[]>;
}

/** Collects what a consumer receives; `done` resolves at `count` messages. */
export function collectMessages(count: number): MessageCollector {
  const received: EachMessagePayload[] = [];
  let resolve!: (r: EachMessagePayload[]) => void;
  const done = new Promise<EachMessagePayload[]>((r) => (resolve = r));
  if (count <= 0) resolve(received);
  return {
    received,
    done,
    eachMessage: async (payload) => {
      received.push(payload);
      if (received.length === count) resolve(received);
    },
  };
}
