import { compareTopicPartitions, type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';

/** What the restore planner needs to know about a listed checkpoint. */
export interface PlannedCheckpoint {
  id: string;
  status: 'valid' | 'corrupt' | 'incomplete' | 'unsupported';
  quarantined?: boolean;
  /** Why it is not valid, when it is not. */
  reason?: string;
  /**
   * Partitions with the next offset each holds (null: state of no known
   * offset); a delta segment (format 2) names the checkpoint it applies to.
   */
  partitions: ReadonlyArray<TopicPartition & { offset: string | null; kind?: 'full' | 'delta'; base?: string }>;
}

/** A checkpoint to restore a partition from. */
export interface RestoreCandidate {
  id: string;
  /** The partition's next offset in that checkpoint. */
  offset: string;
  /**
   * When the partition's segment in `id` is a delta: the checkpoints to
   * apply, its full base first and `id` last. Absent for a full segment.
   */
  chain?: string[];
}

/** A delta that cannot be restored: a link of its chain is not a valid checkpoint holding the partition. */
export interface BrokenChain extends TopicPartition {
  id: string;
  reason: string;
}

/** One partition's choices, best first: the rest are its fallbacks, in order. */
export interface PartitionRestorePlan extends TopicPartition {
  candidates: RestoreCandidate[];
}

/** Decisions of one restore, before any byte is read. */
export interface RestorePlan {
  /** Per wanted partition (sorted), the checkpoints to try, best first; empty when none qualifies. */
  partitions: PartitionRestorePlan[];
  /**
   * Checkpoints listed as corrupt or unsupported that hold a wanted partition
   * (or whose partitions are unknown: their manifest is unreadable; or all of
   * them when no partitions were named): passed over, reported, and the
   * corrupt ones quarantined. Newest first.
   */
  passOver: string[];
  /** The same checkpoints with what to do about each (same order). */
  passOverActions: PassOverAction[];
  /** Deltas of wanted partitions passed over because their chain is broken (reported, left in place). */
  broken: BrokenChain[];
}

/** What restore does with a checkpoint it passes over. */
export interface PassOverAction {
  id: string;
  /** Corrupt ones are quarantined; newer-format ones are left in place. */
  quarantine: boolean;
  /** Why it is passed over (its listing's reason). */
  reason: string;
}

/** Options for {@link planRestore}. */
export interface RestorePlanOptions {
  /**
   * A partition's own (local) offset: only checkpoints holding it further
   * ahead are candidates. Recovery passes the local state's offset; an
   * operator's restore passes nothing.
   */
  above?: (tp: TopicPartition) => string | undefined;
}

/**
 * Chooses, per partition, the checkpoint to restore it from, in fallback
 * order: the valid checkpoint holding the partition at the highest offset
 * first (the newest among equal offsets), then the next highest, and so on.
 * This is the one rule of "newest" for a partition: recovery, the
 * repository's restore and `tidemark restore` all follow it, and retention
 * never deletes a partition's first choice.
 *
 * Quarantined and incomplete checkpoints are no candidates; nor is a
 * checkpoint holding the partition without an offset (its state is of no
 * known point in the log). `wanted` defaults to every partition some valid
 * checkpoint holds at an offset. Pure: no I/O.
 */
export function planRestore(
  listing: readonly PlannedCheckpoint[],
  wanted?: Iterable<TopicPartition>,
  options: RestorePlanOptions = {},
): RestorePlan {
  const usable = listing.filter((c) => c.status === 'valid' && c.quarantined !== true);
  const tps = new Map<string, TopicPartition>();
  if (wanted === undefined) {
    for (const c of usable)
      for (const p of c.partitions)
        if (p.offset !== null) tps.set(formatTopicPartition(p), { topic: p.topic, partition: p.partition });
  } else {
    for (const tp of wanted) tps.set(formatTopicPartition(tp), { topic: tp.topic, partition: tp.partition });
  }
  const broken: BrokenChain[] = [];
  const partitions = [...tps.values()].sort(compareTopicPartitions).map((tp) => {
    const floor = options.above?.(tp);
    const above = floor === undefined ? undefined : BigInt(floor);
    const candidates: RestoreCandidate[] = [];
    const chains = chainResolver(listing, tp);
    for (const c of usable) {
      const held = c.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
      if (held?.offset == null) continue;
      if (above !== undefined && BigInt(held.offset) <= above) continue;
      if (held.kind !== 'delta') {
        candidates.push({ id: c.id, offset: held.offset });
        continue;
      }
      const chain = chains(c.id);
      if (typeof chain === 'string') broken.push({ ...tp, id: c.id, reason: chain });
      else candidates.push({ id: c.id, offset: held.offset, chain });
    }
    candidates.sort(compareCandidates);
    return { ...tp, candidates };
  });
  const passed = listing
    .filter(
      (c) =>
        (c.status === 'corrupt' || c.status === 'unsupported') &&
        c.quarantined !== true &&
        (wanted === undefined ||
          c.partitions.length === 0 ||
          c.partitions.some((p) => tps.has(formatTopicPartition(p)))),
    )
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const passOverActions = passed.map((c) =>
    c.status === 'corrupt'
      ? { id: c.id, quarantine: true, reason: c.reason ?? 'corrupt' }
      : { id: c.id, quarantine: false, reason: c.reason ?? c.status },
  );
  broken.sort((a, b) => compareTopicPartitions(a, b) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return { partitions, passOver: passed.map((c) => c.id), passOverActions, broken };
}

/** One round of loads of a restore. */
export interface RestoreRound {
  /**
   * Checkpoints to read now, each with the partitions it restores; in the
   * order partitions were pending. A partition restored through a chain
   * carries it (full base first, `id` last).
   */
  loads: Array<{ id: string; partitions: Array<TopicPartition & { chain?: string[] }> }>;
  /** Partitions with no candidate left (all failed, or none to begin with). */
  missing: TopicPartition[];
}

/**
 * Assigns each pending partition to its best candidate that has not failed,
 * grouped by checkpoint (one read per checkpoint). A restore runs rounds
 * until none is pending: the partitions of a checkpoint that fails go on to
 * the next round, where they move to their next candidates. Pure.
 */
export function restoreRound(pending: readonly PartitionRestorePlan[], failed: ReadonlySet<string>): RestoreRound {
  const loads = new Map<string, Array<TopicPartition & { chain?: string[] }>>();
  const missing: TopicPartition[] = [];
  for (const p of pending) {
    const tp: TopicPartition & { chain?: string[] } = { topic: p.topic, partition: p.partition };
    // A chain is as good as its weakest link.
    const choice = p.candidates.find((c) => !failed.has(c.id) && !(c.chain?.some((id) => failed.has(id)) ?? false));
    if (choice === undefined) {
      missing.push(tp);
      continue;
    }
    let list = loads.get(choice.id);
    if (list === undefined) loads.set(choice.id, (list = []));
    if (choice.chain !== undefined) tp.chain = choice.chain;
    list.push(tp);
  }
  return { loads: [...loads].map(([id, partitions]) => ({ id, partitions })), missing };
}

/**
 * Splits the partitions asked of one named checkpoint into those it holds
 * (to load; every one it holds when none are named) and those it does not
 * (`missing`, in the order asked). Pure.
 */
export function splitHeld(
  held: readonly TopicPartition[],
  wanted: readonly TopicPartition[] | undefined,
): { load: TopicPartition[]; missing: TopicPartition[] } {
  if (wanted === undefined) return { load: held.map((p) => ({ topic: p.topic, partition: p.partition })), missing: [] };
  const load: TopicPartition[] = [];
  const missing: TopicPartition[] = [];
  for (const tp of wanted) {
    const copy = { topic: tp.topic, partition: tp.partition };
    if (held.some((p) => p.topic === tp.topic && p.partition === tp.partition)) load.push(copy);
    else missing.push(copy);
  }
  return { load, missing };
}

/** The reason reported for a corrupt checkpoint skipped, and whether it could be moved to quarantine. */
export function quarantineNote(reason: string, moved: boolean): string {
  return `${reason}${moved ? ' (quarantined)' : ' (could not quarantine)'}`;
}

/**
 * Resolves a partition's chains in a listing: for a checkpoint id, the ids
 * to apply (full base first, the id last), or why it cannot be restored.
 * A link must be listed, valid, outside quarantine and hold the partition;
 * a delta's base is older than the delta (the manifest checks it), so a
 * chain has no cycle. Pure: no I/O.
 */
export function chainResolver(
  listing: readonly PlannedCheckpoint[],
  tp: TopicPartition,
): (id: string) => string[] | string {
  const byId = new Map(listing.map((c) => [c.id, c]));
  const memo = new Map<string, string[] | string>();
  const resolve = (id: string, from: string | undefined): string[] | string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const c = byId.get(id);
    const what = from === undefined ? `checkpoint ${id}` : `its chain's checkpoint ${id} (base of ${from})`;
    let out: string[] | string;
    const held = c?.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
    if (c === undefined) out = `${what} is not listed (deleted, or moved to quarantine)`;
    else if (c.quarantined === true) out = `${what} is in quarantine`;
    else if (c.status !== 'valid') out = `${what} is ${c.status}`;
    else if (held === undefined) out = `${what} does not hold ${tp.topic}:${tp.partition}`;
    else if (held.kind !== 'delta') out = [id];
    else if (held.base === undefined || held.base >= id) out = `${what} is a delta without an older base`;
    else {
      const below = resolve(held.base, id);
      out = typeof below === 'string' ? below : [...below, id];
    }
    memo.set(id, out);
    return out;
  };
  return (id) => resolve(id, undefined);
}

/**
 * Per partition, the id of the valid checkpoint a restore would try first
 * (the highest offset; the newest among equals). Pure.
 */
export function firstChoices(listing: readonly PlannedCheckpoint[]): Map<string, RestoreCandidate & TopicPartition> {
  const out = new Map<string, RestoreCandidate & TopicPartition>();
  for (const plan of planRestore(listing).partitions) {
    const best = plan.candidates[0];
    if (best !== undefined)
      out.set(formatTopicPartition(plan), { topic: plan.topic, partition: plan.partition, ...best });
  }
  return out;
}

// Highest offset first; among equal offsets the newest (ids sort by time).
function compareCandidates(a: RestoreCandidate, b: RestoreCandidate): number {
  const x = BigInt(a.offset);
  const y = BigInt(b.offset);
  if (x !== y) return x > y ? -1 : 1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
