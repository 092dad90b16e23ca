import { formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';

/** Share of a partition's entries beyond which its changed keys are not kept (a full checkpoint is cheaper). */
export const DEFAULT_TRACK_SHARE = 0.25;
// The share is checked (it costs an entry count) each time this many more keys were added.
const CHECK_EVERY = 4096;

/**
 * What changed in one partition since the checkpoint named `since`: the
 * encoded keys written or deleted (TTL expiries land as deletes), as latin1
 * strings (so they sort bytewise), or `'full'` when that is not known or not
 * worth knowing (never checkpointed by this process since it opened, restored,
 * dropped, released, or more than the tracked share of its entries changed).
 */
export type PartitionChanges =
  | { readonly since: string; readonly keys: ReadonlySet<string> }
  | { readonly since: undefined; readonly keys: 'full' };

/**
 * The changes cut at one snapshot, handed to the checkpoint written from it.
 * Exactly one of {@link ChangeCut.written} or {@link ChangeCut.abandoned} is
 * called (a second call throws).
 */
export interface ChangeCut {
  /** A partition's changes up to the snapshot. */
  changes(tp: TopicPartition): PartitionChanges;
  /** Checkpoint `id` holds `tps` as of the snapshot: later changes of those are relative to it. */
  written(id: string, tps: Iterable<TopicPartition>): void;
  /** No checkpoint came of it: the changes it took count again for the next one. */
  abandoned(): void;
}

interface Tracked {
  since: string | undefined;
  keys: Set<string> | 'full';
  // Bumped by markFull, so a cut settled later knows the partition was reset after it.
  resets: number;
  // Size at which the share is next checked.
  nextCheck: number;
}

/**
 * Which keys each commit changed, per partition, since the last checkpoint
 * written from this store. In memory only (a choice: nothing extra is written
 * per commit): after a restart every partition is `'full'`, so its first
 * checkpoint is a full one. Bounded: a partition whose changed keys outgrow
 * `share` of its entries keeps only the mark `'full'`.
 */
export class ChangeTracker {
  private readonly parts = new Map<string, Tracked>();

  constructor(
    private readonly entryCount: (tp: TopicPartition) => number,
    private readonly share = DEFAULT_TRACK_SHARE,
  ) {}

  /** Records one encoded key a durable commit wrote or deleted. */
  record(tp: TopicPartition, key: Buffer): void {
    const t = this.get(tp);
    if (t.keys === 'full') return;
    const set = t.keys;
    set.add(key.toString('latin1'));
    if (set.size >= t.nextCheck) {
      t.nextCheck = set.size + CHECK_EVERY;
      if (set.size > this.share * Math.max(1, this.entryCount(tp))) this.markFull(tp);
    }
  }

  /** Forgets what is known of a partition: its next checkpoint is a full one. */
  markFull(tp: TopicPartition): void {
    const t = this.get(tp);
    t.keys = 'full';
    t.since = undefined;
    t.resets++;
  }

  /**
   * Takes the changes so far of `tps` (the snapshot's partitions; call in the
   * same synchronous turn as the snapshot, so they match it exactly).
   * Tracking goes on from empty sets.
   */
  cut(tps: Iterable<TopicPartition>): ChangeCut {
    for (const tp of tps) this.get(tp);
    const taken = new Map<string, Tracked>();
    for (const [k, t] of this.parts) {
      taken.set(k, { ...t });
      t.keys = new Set();
      t.nextCheck = CHECK_EVERY;
    }
    let settled = false;
    const settle = (): void => {
      if (settled) throw new Error('change cut already settled');
      settled = true;
    };
    return {
      changes: (tp) => {
        const t = taken.get(formatTopicPartition(tp));
        if (t === undefined || t.keys === 'full' || t.since === undefined) return { since: undefined, keys: 'full' };
        if (t.keys.size > this.share * Math.max(1, this.entryCount(tp))) return { since: undefined, keys: 'full' };
        return { since: t.since, keys: t.keys };
      },
      written: (id, tps) => {
        settle();
        const done = new Set<string>();
        for (const tp of tps) done.add(formatTopicPartition(tp));
        for (const [k, before] of taken) {
          const now = this.parts.get(k)!;
          if (now.resets !== before.resets) continue; // reset after the cut: stays full
          if (done.has(k)) now.since = id;
          else this.mergeBack(now, before);
        }
      },
      abandoned: () => {
        settle();
        for (const [k, before] of taken) {
          const now = this.parts.get(k)!;
          if (now.resets === before.resets) this.mergeBack(now, before);
        }
      },
    };
  }

  // The cut's changes were not written: they join the ones made since.
  private mergeBack(now: Tracked, before: Tracked): void {
    if (now.keys === 'full') return;
    if (before.keys === 'full' || before.since === undefined) {
      now.keys = 'full';
      now.since = undefined;
      return;
    }
    for (const k of before.keys) now.keys.add(k);
  }

  private get(tp: TopicPartition): Tracked {
    const k = formatTopicPartition(tp);
    let t = this.parts.get(k);
    if (t === undefined) {
      t = { since: undefined, keys: 'full', resets: 0, nextCheck: CHECK_EVERY };
      this.parts.set(k, t);
    }
    return t;
  }
}
