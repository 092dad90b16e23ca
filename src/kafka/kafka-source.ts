import { setTimeout as sleep } from 'node:timers/promises';
import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type KafkaConfig,
  type Logger,
} from 'kafkajs';
import { ConfigError } from '../errors/config-error.js';
import { intOption } from '../util/options.js';
import { TopicNotFoundError } from '../errors/topic-not-found-error.js';
import type { Source, SourceListener, SourceRecord } from '../pipeline/source.js';
import { formatTopicPartition, type PartitionOffset, type TopicPartition } from '../util/topic-partition.js';
import { byTopic, diffAssignment, flattenAssignment } from './assignment.js';

/** Options for {@link KafkaSource}. */
export interface KafkaSourceOptions {
  /** A kafkajs client, or the config to create one (e.g. `{ brokers: ['127.0.0.1:9092'] }`). */
  kafka: Kafka | KafkaConfig;
  groupId: string;
  topics: readonly string[];
  /** Where a partition with no state and no group offset starts; default true (the earliest record). */
  fromBeginning?: boolean;
  /**
   * Further kafkajs consumer settings (session timeout, heartbeat interval,
   * max bytes...). `maxWaitTimeInMs` defaults to 250 here (kafkajs: 5,000):
   * kafkajs waits that long on a fetch with nothing to return, which is how
   * long a resume after a rebalance and a stop can take.
   */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  /**
   * How long to wait for missing topics at start, in ms, saying so every 30
   * s (default 600,000: ten minutes); then `start` fails with
   * `TopicNotFoundError`. 0: fail at once.
   */
  topicWaitMs?: number;
}

/** kafkajs's maxWaitTimeInMs default here; see {@link KafkaSourceOptions.consumer}. */
export const DEFAULT_MAX_WAIT_MS = 250;
const DEFAULT_TOPIC_WAIT_MS = 600_000;
const TOPIC_WAIT_NOTICE_MS = 30_000;
/** kafkajs's default initial retry time, its delay before a restart. */
const KAFKAJS_INITIAL_RETRY_MS = 300;

/**
 * A kafkajs consumer-group source. Offsets are never auto-committed: the
 * pipeline commits them only after the state they reflect is durable.
 * Assignments are learned from GROUP_JOIN (kafkajs has no revoke hook);
 * after every rejoin all assigned partitions are paused until the pipeline
 * has recovered them and seeked them to their state's offsets (each new one
 * is resumed as soon as its own recovery is done: {@link ready}).
 */
export class KafkaSource implements Source {
  readonly kind = 'kafka';
  private consumer: Consumer | undefined;
  private listener: SourceListener | undefined;
  private current: TopicPartition[] = [];
  private rebalancing: Promise<void> = Promise.resolve();
  // The assignment being recovered: its new partitions may be resumed one by one (ready()).
  private assigning: { next: TopicPartition[]; keys: Set<string> } | undefined;
  private readonly removers: Array<() => void> = [];
  private stopped = false;
  private admin: Admin | undefined;
  private logger: Logger | undefined;
  private readonly stopSignal = new AbortController();
  private starting: Promise<void> = Promise.resolve();

  constructor(private readonly options: KafkaSourceOptions) {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('kafka source options must be an object');
    if (typeof options.groupId !== 'string' || options.groupId.length === 0)
      throw new ConfigError('"groupId" must be a non-empty string');
    if (
      !Array.isArray(options.topics) ||
      options.topics.length === 0 ||
      options.topics.some((t) => typeof t !== 'string' || t === '')
    ) {
      throw new ConfigError('"topics" must be a non-empty array of topic names');
    }
    if (!(options.kafka instanceof Kafka) && !Array.isArray((options.kafka as KafkaConfig | undefined)?.brokers)) {
      throw new ConfigError('"kafka" must be a kafkajs Kafka client or a config with "brokers"');
    }
    intOption('topicWaitMs', options.topicWaitMs, { min: 0, default: DEFAULT_TOPIC_WAIT_MS });
  }

  async start(listener: SourceListener): Promise<void> {
    // Set before the first step runs: a stop may come from inside it.
    let started!: () => void;
    this.starting = new Promise((resolve) => {
      started = resolve;
    });
    try {
      await this.startSteps(listener);
    } finally {
      started();
    }
  }

  // Each step is checked against a stop that came while it ran: stop() waits
  // for the step in flight and closes what it opened.
  private async startSteps(listener: SourceListener): Promise<void> {
    this.listener = listener;
    const kafka =
      this.options.kafka instanceof Kafka
        ? this.options.kafka
        : new Kafka({ logLevel: logLevel.WARN, ...this.options.kafka });
    this.logger = kafka.logger();
    this.admin = kafka.admin();
    await this.admin.connect();
    if (this.stopped) return;
    await this.waitForTopics(listener);
    if (this.stopped) return;
    // kafkajs restarts a crashed consumer (a retriable error) on a timer of
    // its own, even one that crashed while disconnecting; and a stop landing
    // in that restart's join leaves a consumer that joins and runs on (see
    // stop()). So kafkajs is told never to restart: this source restarts the
    // consumer itself, as a start step that stop() waits for.
    let restarting: unknown;
    const consumer = kafka.consumer({
      maxWaitTimeInMs: DEFAULT_MAX_WAIT_MS,
      ...this.options.consumer,
      groupId: this.options.groupId,
      retry: {
        ...this.options.consumer?.retry,
        restartOnFailure: async (error) => {
          if (this.stopped || !(await this.restartAllowed(error))) return false;
          restarting = error;
          this.restartAfter(this.restartDelay(error), () => consumer.run(runConfig));
          return false;
        },
      },
    });
    this.consumer = consumer;
    this.removers.push(
      consumer.on(consumer.events.GROUP_JOIN, (e) => this.onJoin(e.payload.memberAssignment)),
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart && !this.stopped && e.payload.error !== restarting) listener.failed(e.payload.error);
      }),
    );
    const runConfig: ConsumerRunConfig = {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const { topic, partition } = batch;
        const records: SourceRecord[] = batch.messages.map((m) => ({
          topic,
          partition,
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: m.headers ?? {},
          timestamp: m.timestamp,
        }));
        // A heartbeat that fails (the group is rebalancing) ends the batch
        // early; the error then goes back to kafkajs, whose runner rejoins.
        let lost: unknown;
        await listener.batch(
          { topic, partition, records, highWatermark: batch.highWatermark },
          {
            heartbeat: async () => {
              try {
                await heartbeat();
              } catch (err) {
                lost ??= err;
                throw err;
              }
            },
            resolve: (offset) => resolveOffset(offset),
            isActive: () => lost === undefined && isRunning() && !isStale() && !this.stopped,
          },
        );
        if (lost !== undefined) throw lost;
      },
    };
    await consumer.connect();
    if (this.stopped) return;
    await consumer.subscribe({ topics: [...this.options.topics], fromBeginning: this.options.fromBeginning ?? true });
    if (this.stopped) return;
    await consumer.run(runConfig);
  }

  // The user's `retry.restartOnFailure` decides, as in kafkajs: restart when
  // there is none, and when it throws.
  private async restartAllowed(error: Error): Promise<boolean> {
    const decide = this.options.consumer?.retry?.restartOnFailure;
    if (decide === undefined) return true;
    try {
      return await decide(error);
    } catch {
      return true;
    }
  }

  // kafkajs's delay: the error's retry time, else the retry settings'
  // initial retry time (consumer's, then client's config), else 300 ms.
  private restartDelay(error: Error): number {
    const { retryTime } = error as { retryTime?: unknown };
    if (typeof retryTime === 'number' && retryTime > 0) return retryTime;
    const client = this.options.kafka instanceof Kafka ? undefined : this.options.kafka.retry;
    return this.options.consumer?.retry?.initialRetryTime || client?.initialRetryTime || KAFKAJS_INITIAL_RETRY_MS;
  }

  private restartAfter(delayMs: number, run: () => Promise<void>): void {
    this.logger?.warn(`the consumer crashed; restarting it in ${delayMs} ms`, { groupId: this.options.groupId });
    const restart = (async () => {
      await sleep(delayMs, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      if (!this.stopped) await run();
    })();
    restart.catch((err: unknown) => {
      if (!this.stopped) this.listener?.failed(err instanceof Error ? err : new Error(String(err)));
    });
    this.starting = Promise.all([this.starting, restart.catch(() => undefined)]).then(() => undefined);
  }

  async logStartOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    // `low` is the log start offset (ListOffsets, timestamp -2).
    return this.logOffsets(tps, 'low');
  }

  async logEndOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    return this.logOffsets(tps, 'high');
  }

  private async logOffsets(tps: readonly TopicPartition[], which: 'low' | 'high'): Promise<PartitionOffset[]> {
    if (tps.length === 0) return [];
    const admin = this.admin;
    if (admin === undefined) throw new Error('the Kafka source is not started');
    const out: PartitionOffset[] = [];
    for (const topic of new Set(tps.map((tp) => tp.topic))) {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const o of offsets)
        if (tps.some((tp) => tp.topic === topic && tp.partition === o.partition))
          out.push({ topic, partition: o.partition, offset: o[which] });
    }
    return out;
  }

  seek(tp: TopicPartition, offset: string | 'earliest'): void {
    // Once stopped there is nothing to position, and kafkajs throws on a seek
    // after disconnect() ("Consumer group was not initialized"): a rejoin
    // that completes during a stop still hands partitions to the pipeline.
    if (this.stopped) return;
    // kafkajs resolves the special offset -2 to the partition's earliest offset.
    this.consumer?.seek({ topic: tp.topic, partition: tp.partition, offset: offset === 'earliest' ? '-2' : offset });
  }

  ready(tp: TopicPartition): void {
    // Only a partition of the assignment being recovered, and only while no
    // newer join has paused everything again.
    const a = this.assigning;
    if (this.stopped || a === undefined || this.current !== a.next || !a.keys.has(formatTopicPartition(tp))) return;
    this.consumer?.resume([{ topic: tp.topic, partitions: [tp.partition] }]);
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    if (this.consumer === undefined || this.stopped || offsets.length === 0) return;
    await this.consumer.commitOffsets(
      offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopSignal.abort(); // ends a wait for topics
    // kafkajs's connect() and run() go on after a disconnect() that lands
    // while they are in flight, and reconnect: the connection stays open, or
    // the consumer joins and runs on, out of reach of any later disconnect().
    // So let the start step in flight finish first (start() checks `stopped`
    // after each one), a restart after a crash included; a join in flight
    // takes up to the rebalance timeout.
    await this.starting;
    // disconnect() waits for the batch in flight, then leaves the group.
    await this.consumer?.disconnect();
    await this.rebalancing.catch(() => undefined);
    await this.admin?.disconnect();
    for (const remove of this.removers.splice(0)) remove();
  }

  // A consumer subscribed to a topic that does not exist fails with
  // kafkajs's "This server does not host this topic-partition": wait for it
  // instead, and say so now and then (the pipeline is not ready meanwhile).
  private async waitForTopics(listener: SourceListener): Promise<void> {
    const limit = this.options.topicWaitMs ?? DEFAULT_TOPIC_WAIT_MS;
    const started = performance.now();
    let noticed = -Infinity;
    for (let delay = 100; !this.stopped; delay = Math.min(delay * 2, 2000)) {
      const existing = new Set(await this.admin!.listTopics());
      const missing = this.options.topics.filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      const waited = performance.now() - started;
      if (waited >= limit) throw new TopicNotFoundError(missing, waited);
      if (performance.now() - noticed >= TOPIC_WAIT_NOTICE_MS) {
        noticed = performance.now();
        const reason =
          `waiting for topic(s) ${missing.join(', ')} to exist (group ${this.options.groupId}; ` +
          `waited ${Math.round(waited / 1000)} s, giving up after ${Math.round(limit / 1000)} s)`;
        this.logger?.warn(reason, { topics: missing, groupId: this.options.groupId });
        listener.waiting?.(reason);
      }
      await sleep(Math.min(delay, limit - waited), undefined, { signal: this.stopSignal.signal }).catch(
        () => undefined,
      );
    }
  }

  /** Partitions assigned to this member now. */
  assignment(): TopicPartition[] {
    return [...this.current];
  }

  // GROUP_JOIN is emitted synchronously after the group sync, before the
  // next fetch. Every rejoin gives kafkajs a fresh offset manager that would
  // fetch from the group's committed offsets, which can be ahead of this
  // member's state (a previous owner committed them at its revocation) or
  // behind it: so every assigned partition, new or kept, is paused here and
  // resumed only after the pipeline has recovered it and seeked it to its
  // state's offset.
  private onJoin(memberAssignment: Record<string, number[]>): void {
    const next = flattenAssignment(memberAssignment);
    const change = diffAssignment(this.current, next);
    this.current = next;
    const consumer = this.consumer!;
    if (!this.stopped && next.length > 0) consumer.pause(byTopic(next));
    const listener = this.listener!;
    this.rebalancing = this.rebalancing
      .catch(() => undefined)
      .then(async () => {
        if (change.revoked.length > 0) await listener.revoked(change.revoked);
        // Called even with nothing new: the pipeline learns it has joined
        // (a member with no partitions is ready too).
        this.assigning = { next, keys: new Set(change.assigned.map(formatTopicPartition)) };
        try {
          await listener.assigned(change.assigned);
        } finally {
          this.assigning = undefined;
        }
        if (change.retained.length > 0) await listener.retained(change.retained);
        if (!this.stopped && this.current === next && next.length > 0) consumer.resume(byTopic(next));
      });
  }
}
