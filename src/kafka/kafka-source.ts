import { Kafka, logLevel, type Consumer, type ConsumerConfig, type KafkaConfig } from 'kafkajs';
import { ConfigError } from '../errors/config-error.js';
import type { Source, SourceListener, SourceRecord } from '../pipeline/source.js';
import type { PartitionOffset, TopicPartition } from '../util/topic-partition.js';
import { byTopic, diffAssignment, flattenAssignment } from './assignment.js';

/** Options for {@link KafkaSource}. */
export interface KafkaSourceOptions {
  /** A kafkajs client, or the config to create one (e.g. `{ brokers: ['127.0.0.1:9092'] }`). */
  kafka: Kafka | KafkaConfig;
  groupId: string;
  topics: readonly string[];
  /** Where a partition with no state and no group offset starts; default true (the earliest record). */
  fromBeginning?: boolean;
  /** Further kafkajs consumer settings (session timeout, heartbeat interval, max bytes...). */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
}

/**
 * A kafkajs consumer-group source. Offsets are never auto-committed: the
 * pipeline commits them only after the state they reflect is durable.
 * Assignments are learned from GROUP_JOIN (kafkajs has no revoke hook);
 * after every rejoin all assigned partitions are paused until the pipeline
 * has recovered them and seeked them to their state's offsets.
 */
export class KafkaSource implements Source {
  readonly kind = 'kafka';
  private consumer: Consumer | undefined;
  private listener: SourceListener | undefined;
  private current: TopicPartition[] = [];
  private rebalancing: Promise<void> = Promise.resolve();
  private readonly removers: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly options: KafkaSourceOptions) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('kafka source options must be an object');
    if (typeof options.groupId !== 'string' || options.groupId.length === 0) throw new ConfigError('"groupId" must be a non-empty string');
    if (!Array.isArray(options.topics) || options.topics.length === 0 || options.topics.some((t) => typeof t !== 'string' || t === '')) {
      throw new ConfigError('"topics" must be a non-empty array of topic names');
    }
    if (!(options.kafka instanceof Kafka) && !Array.isArray((options.kafka as KafkaConfig | undefined)?.brokers)) {
      throw new ConfigError('"kafka" must be a kafkajs Kafka client or a config with "brokers"');
    }
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    const kafka = this.options.kafka instanceof Kafka ? this.options.kafka : new Kafka({ logLevel: logLevel.WARN, ...this.options.kafka });
    const consumer = kafka.consumer({ ...this.options.consumer, groupId: this.options.groupId });
    this.consumer = consumer;
    this.removers.push(
      consumer.on(consumer.events.GROUP_JOIN, (e) => this.onJoin(e.payload.memberAssignment)),
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart && !this.stopped) listener.failed(e.payload.error);
      }),
    );
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.options.topics], fromBeginning: this.options.fromBeginning ?? true });
    await consumer.run({
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
    });
  }

  seek(tp: TopicPartition, offset: string | 'earliest'): void {
    // kafkajs resolves the special offset -2 to the partition's earliest offset.
    this.consumer?.seek({ topic: tp.topic, partition: tp.partition, offset: offset === 'earliest' ? '-2' : offset });
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    if (this.consumer === undefined || this.stopped || offsets.length === 0) return;
    await this.consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // disconnect() waits for the batch in flight, then leaves the group.
    await this.consumer?.disconnect();
    await this.rebalancing.catch(() => undefined);
    for (const remove of this.removers.splice(0)) remove();
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
    if (next.length > 0) consumer.pause(byTopic(next));
    const listener = this.listener!;
    this.rebalancing = this.rebalancing
      .catch(() => undefined)
      .then(async () => {
        if (change.revoked.length > 0) await listener.revoked(change.revoked);
        // Called even with nothing new: the pipeline learns it has joined
        // (a member with no partitions is ready too).
        await listener.assigned(change.assigned);
        if (change.retained.length > 0) await listener.retained(change.retained);
        if (!this.stopped && this.current === next && next.length > 0) consumer.resume(byTopic(next));
      });
  }
}
