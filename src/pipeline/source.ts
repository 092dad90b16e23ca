import type { PartitionOffset, TopicPartition } from '../util/topic-partition.js';

/** Header values as Kafka clients give them. */
export type HeaderValue = Buffer | string | Array<Buffer | string> | undefined;

/** One record read from a partition. */
export interface SourceRecord {
  readonly topic: string;
  readonly partition: number;
  /** Offset of this record, as a decimal string. */
  readonly offset: string;
  /** Null for a record without a key. */
  readonly key: Buffer | null;
  /** Null for a tombstone. */
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  /** Record timestamp, ms since epoch, as a decimal string. */
  readonly timestamp: string;
}

/** Consecutive records of one partition. */
export interface SourceBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly SourceRecord[];
  /** Offset the next produced record will get (Kafka's high watermark), if known. */
  readonly highWatermark?: string | undefined;
}

/** What a batch consumer may do while it works through a batch. */
export interface BatchControl {
  /**
   * Keeps the group membership alive during a long batch. Rejects when the
   * membership is lost (a rebalance began): stop working on the batch; the
   * source rejoins and reassigns.
   */
  heartbeat(): Promise<void>;
  /** Marks a record as consumed, so the source does not deliver it again in this assignment. */
  resolve(offset: string): void;
  /** False once the source is stopping, the partition was repositioned, or it was revoked. */
  isActive(): boolean;
}

/** The pipeline's side of a source. */
export interface SourceListener {
  /**
   * Partitions newly assigned (possibly none: called at every assignment,
   * so the listener knows one happened). The source delivers nothing from
   * them until this resolves, or until the listener calls
   * {@link Source.ready} for one; the listener positions each with
   * {@link Source.seek} first.
   */
  assigned(partitions: readonly TopicPartition[]): Promise<void>;
  /** Partitions taken away; the listener commits and hands them over. */
  revoked(partitions: readonly TopicPartition[]): Promise<void>;
  /** Partitions kept across a rebalance: the listener repositions them (the source may have lost its place). */
  retained(partitions: readonly TopicPartition[]): Promise<void>;
  /** A batch to process. */
  batch(batch: SourceBatch, control: BatchControl): Promise<void>;
  /** The source failed and will deliver nothing more. */
  failed(error: Error): void;
  /**
   * The source cannot deliver yet and says why (a topic that does not exist
   * yet...); called again now and then while it waits.
   */
  waiting?(reason: string): void;
}

/**
 * Where records come from: a Kafka consumer group (`KafkaSource`) or an
 * in-process log (`InProcessSource`). The pipeline never imports kafkajs.
 */
export interface Source {
  /** For logs and metrics: "kafka" or "in-process". */
  readonly kind: string;
  /** Starts delivering: assignment callbacks, then batches. */
  start(listener: SourceListener): Promise<void>;
  /**
   * Positions a partition: the next record delivered is at `offset`, or at
   * the earliest record still in the log for `'earliest'`.
   */
  seek(tp: TopicPartition, offset: string | 'earliest'): void;
  /**
   * Called by the listener while {@link SourceListener.assigned} is still
   * running, for a partition of that assignment it has recovered and
   * positioned: the source may deliver its records from now on, while the
   * other partitions still recover. Optional: a source without it delivers
   * nothing of an assignment until `assigned` resolves.
   */
  ready?(tp: TopicPartition): void;
  /**
   * The first offset still in each partition's log (Kafka's log start
   * offset, which retention and `deleteRecords` move forward). The pipeline
   * starts empty state there and compares every state's offset with it: an
   * offset below it is a gap (records deleted before they were processed).
   */
  logStartOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]>;
  /** The offset the next record of each partition will get (Kafka's high watermark). */
  logEndOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]>;
  /** Records up to these next offsets are durably processed; a broker source commits them to the group. */
  commit(offsets: readonly PartitionOffset[]): Promise<void>;
  /** Stops delivering; a batch in flight finishes first. */
  stop(): Promise<void>;
}
