import type { PartitionState } from '../state/partition-state.js';
import { formatTopicPartition, type PartitionOffset, type TopicPartition } from '../util/topic-partition.js';
import type { SourceRecord } from './source.js';

/** One owned partition's progress: what is applied, what is committed (internal). */
export class PartitionProgress {
  /** The partition's state; set once it has recovered. */
  state: PartitionState | undefined = undefined;
  /** Next offset to process; undefined until known (empty state starts wherever the source is). */
  next: bigint | undefined = undefined;
  /** Next offset as of the last durable commit. */
  committed: bigint | undefined = undefined;
  /** True from assignment until recovered. */
  recovering = true;
  /** When a batch of it last started or ended, or it recovered (performance.now()). */
  activeAt = performance.now();
  /** Records applied (or dead-lettered) since the last commit, replayed after a rollback. */
  private sinceCommit: SourceRecord[] = [];
  /** Those of `sinceCommit` that were dead-lettered: skipped on replay. */
  private readonly skipped = new Set<SourceRecord>();

  constructor(readonly tp: TopicPartition) {}

  /** Recovered at `next` (undefined: empty state, no position yet): that offset is durable. */
  recovered(state: PartitionState, next: bigint | undefined): void {
    this.state = state;
    this.next = next;
    this.committed = next;
  }

  /** Recovery is over: batches of it are processed from now on. */
  resume(): void {
    this.recovering = false;
    this.activeAt = performance.now();
  }

  applied(record: SourceRecord): void {
    this.sinceCommit.push(record);
  }

  /** Handed to the dead-letter hook: counted as processed, never replayed. */
  deadLettered(record: SourceRecord): void {
    this.sinceCommit.push(record);
    this.skipped.add(record);
  }

  /** The records to apply again after a rollback to the last commit, in order. */
  replay(): SourceRecord[] {
    return this.sinceCommit.filter((r) => !this.skipped.has(r));
  }

  /** The offset to commit, when it moved since the last commit. */
  pending(): PartitionOffset | undefined {
    if (this.recovering || this.next === undefined || this.next === this.committed) return undefined;
    return { topic: this.tp.topic, partition: this.tp.partition, offset: String(this.next) };
  }

  /** `offset` (what {@link pending} gave) is durable now. */
  markCommitted(offset: PartitionOffset): void {
    this.committed = BigInt(offset.offset);
    this.sinceCommit = [];
    this.skipped.clear();
  }
}

/**
 * The owned partitions' progress and when a commit is due: after
 * `commitRecords` records applied since the last commit, or `commitMs`
 * since it (internal).
 */
export class Progress {
  private readonly owned = new Map<string, PartitionProgress>();
  private recordsSinceCommit = 0;
  private lastCommitAt = performance.now();

  constructor(
    private readonly commitRecords: number,
    private readonly commitMs: number,
  ) {}

  /** Starts tracking a newly assigned partition (recovering). */
  add(tp: TopicPartition): PartitionProgress {
    const p = new PartitionProgress(tp);
    this.owned.set(formatTopicPartition(tp), p);
    return p;
  }

  get(tp: TopicPartition): PartitionProgress | undefined {
    return this.owned.get(formatTopicPartition(tp));
  }

  /** Stops tracking a partition (revoked); false when it was not owned. */
  remove(tp: TopicPartition): boolean {
    return this.owned.delete(formatTopicPartition(tp));
  }

  /** True when `p` is still the tracked progress of its partition (not revoked, not reassigned since). */
  owns(p: PartitionProgress): boolean {
    return this.owned.get(formatTopicPartition(p.tp)) === p;
  }

  /** Every owned partition's progress, recovered or not. */
  partitions(): IterableIterator<PartitionProgress> {
    return this.owned.values();
  }

  /** Owned partitions that have recovered. */
  recovered(): TopicPartition[] {
    return [...this.owned.values()].filter((p) => !p.recovering).map((p) => p.tp);
  }

  /** True while any owned partition is still recovering. */
  anyRecovering(): boolean {
    for (const p of this.owned.values()) if (p.recovering) return true;
    return false;
  }

  /** One more record applied: true when that makes a commit due by count. */
  countApplied(): boolean {
    return ++this.recordsSinceCommit >= this.commitRecords;
  }

  /** True when the commit interval has passed since the last commit. */
  dueByTime(now = performance.now()): boolean {
    return now - this.lastCommitAt >= this.commitMs;
  }

  /** For the commit timer: records applied since the last commit, and the interval passed. */
  dueByTimer(now = performance.now()): boolean {
    return this.recordsSinceCommit > 0 && this.dueByTime(now);
  }

  /**
   * A commit begins: the schedule restarts, and the partitions whose offsets
   * moved are returned with those offsets.
   */
  beginCommit(): Array<{ p: PartitionProgress; offset: PartitionOffset }> {
    this.recordsSinceCommit = 0;
    this.lastCommitAt = performance.now();
    const out: Array<{ p: PartitionProgress; offset: PartitionOffset }> = [];
    for (const p of this.owned.values()) {
      const offset = p.pending();
      if (offset !== undefined) out.push({ p, offset });
    }
    return out;
  }
}
