import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  compareTopicPartitions,
  type PartitionOffset,
  type TopicPartition,
  formatTopicPartition,
} from '../util/topic-partition.js';
import type { InProcessLog } from './in-process-log.js';
import type { Source, SourceListener } from './source.js';

/** Options for {@link InProcessSource}. */
export interface InProcessSourceOptions {
  log: InProcessLog;
  /** Topics to read; every partition is assigned unless `partitions` is given. */
  topics: readonly string[];
  /** Only these partitions (default: all partitions of `topics`). */
  partitions?: readonly TopicPartition[];
  /** Records per batch. Default 500. */
  maxBatchRecords?: number;
  /** Where a partition without a position starts: 'earliest' (default) or 'latest'. */
  startFrom?: 'earliest' | 'latest';
}

/**
 * A Source over an {@link InProcessLog}: the same contract as the Kafka
 * source (assignment callbacks, seek, batches, commit), with no broker.
 * `reassign()` simulates a rebalance.
 */
export class InProcessSource implements Source {
  readonly kind = 'in-process';
  private listener: SourceListener | undefined;
  private assignment: TopicPartition[] = [];
  private readonly positions = new Map<string, number>();
  /** Offsets committed through {@link commit} (like a consumer group's). */
  readonly committed = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private generation = 0;
  // Rebalances in progress: meanwhile only partitions made ready() early are delivered.
  private rebalances = 0;
  private readonly early = new Set<string>();

  constructor(private readonly options: InProcessSourceOptions) {}

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    this.running = true;
    this.unsubscribe = this.options.log.onAppend(() => this.wake?.());
    const all = this.options.partitions ?? this.options.topics.flatMap((t) => this.options.log.partitions(t));
    const first = this.reassign(all); // counts as a rebalance from here: the loop waits for it
    this.loop = this.run();
    await first;
  }

  /** Simulates a rebalance: partitions not in `partitions` are revoked, new ones assigned. */
  async reassign(partitions: readonly TopicPartition[]): Promise<void> {
    const next = [...partitions].sort(compareTopicPartitions);
    const has = (list: TopicPartition[], tp: TopicPartition) =>
      list.some((x) => x.topic === tp.topic && x.partition === tp.partition);
    const revoked = this.assignment.filter((tp) => !has(next, tp));
    const added = next.filter((tp) => !has(this.assignment, tp));
    const retained = next.filter((tp) => has(this.assignment, tp));
    this.generation++;
    this.rebalances++;
    try {
      if (revoked.length > 0) await this.listener!.revoked(revoked);
      this.assignment = next;
      for (const tp of revoked) {
        this.positions.delete(formatTopicPartition(tp));
        this.early.delete(formatTopicPartition(tp));
      }
      for (const tp of added) {
        const committed = this.committed.get(formatTopicPartition(tp));
        const start =
          committed ??
          (this.options.startFrom === 'latest' ? this.options.log.endOffset(tp) : this.options.log.startOffset(tp));
        this.positions.set(formatTopicPartition(tp), Number(start));
      }
      await this.listener!.assigned(added); // even empty: the pipeline learns the assignment happened
      if (retained.length > 0) await this.listener!.retained(retained);
    } finally {
      if (--this.rebalances === 0) this.early.clear();
      this.wake?.();
    }
  }

  ready(tp: TopicPartition): void {
    if (this.rebalances === 0 || !this.assignment.some((x) => x.topic === tp.topic && x.partition === tp.partition))
      return;
    this.early.add(formatTopicPartition(tp));
    this.wake?.();
  }

  seek(tp: TopicPartition, offset: string | 'earliest'): void {
    this.positions.set(
      formatTopicPartition(tp),
      offset === 'earliest' ? Number(this.options.log.startOffset(tp)) : Number(offset),
    );
  }

  async logStartOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    await Promise.resolve();
    return tps.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: this.options.log.startOffset(tp) }));
  }

  async logEndOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    await Promise.resolve();
    return tps.map((tp) => ({ topic: tp.topic, partition: tp.partition, offset: this.options.log.endOffset(tp) }));
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    await Promise.resolve();
    for (const o of offsets) this.committed.set(formatTopicPartition(o), o.offset);
  }

  /** The current assignment. */
  assigned(): TopicPartition[] {
    return [...this.assignment];
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const max = this.options.maxBatchRecords ?? 500;
    try {
      while (this.running) {
        let delivered = false;
        for (const tp of this.assignment) {
          if (!this.running) break;
          const k = formatTopicPartition(tp);
          // During a rebalance, only the partitions the listener made ready early.
          if (this.rebalances > 0 && !this.early.has(k)) continue;
          let pos = this.positions.get(k);
          if (pos === undefined) continue;
          const logStart = Number(this.options.log.startOffset(tp));
          if (pos < logStart) {
            // Out of range, as a broker answers: reset like a Kafka consumer's auto.offset.reset.
            pos = this.options.startFrom === 'latest' ? Number(this.options.log.endOffset(tp)) : logStart;
            this.positions.set(k, pos);
          }
          const records = this.options.log.read(tp, pos, max);
          if (records.length === 0) continue;
          delivered = true;
          const generation = this.generation;
          const at = pos;
          let resolved = pos;
          await this.listener!.batch(
            { topic: tp.topic, partition: tp.partition, records, highWatermark: this.options.log.endOffset(tp) },
            {
              heartbeat: async () => undefined,
              resolve: (offset) => {
                resolved = Math.max(resolved, Number(offset) + 1);
              },
              isActive: () => this.running && this.generation === generation && this.positions.get(k) === at,
            },
          );
          // Advance unless the listener repositioned the partition meanwhile.
          if (this.positions.get(k) === at && this.generation === generation) this.positions.set(k, resolved);
          await nextTurn();
        }
        if (!delivered && this.running) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, 50).unref();
          });
          this.wake = undefined;
        }
      }
    } catch (err) {
      this.running = false;
      this.listener?.failed(err as Error);
    }
  }
}
