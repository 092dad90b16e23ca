import { ConfigError } from '../errors/config-error.js';
import { checkOptions, intOption, numberOption } from '../util/options.js';
import { type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';
import { checkpointTime } from './checkpoint-id.js';
import { firstChoices } from './restore-plan.js';

/**
 * Which checkpoints to keep. A checkpoint is deleted when it is beyond the
 * newest `keepLast` for every partition it holds, or older than `maxAgeMs`;
 * whatever the policy, the newest valid checkpoint of any partition (so the
 * newest valid checkpoint overall), the valid checkpoint holding a partition
 * at its highest offset (the one recovery restores it from) and checkpoints
 * being read are kept.
 */
export interface RetentionPolicy {
  /** Newest valid checkpoints to keep per partition; default 3. */
  keepLast?: number;
  /** Delete checkpoints older than this (ms), subject to the rules above; default none. */
  maxAgeMs?: number;
  /** Remove incomplete checkpoints (no manifest) older than this (ms); default 1 hour. */
  incompleteAfterMs?: number;
}

/** A policy with defaults applied. */
export interface ResolvedRetention {
  keepLast: number;
  maxAgeMs: number | undefined;
  incompleteAfterMs: number;
}

/** What retention needs to know about a checkpoint. */
export interface RetentionCandidate {
  id: string;
  status: 'valid' | 'corrupt' | 'incomplete' | 'unsupported';
  /** Partitions it holds, with their next offsets (without one, a partition never counts as held furthest ahead). */
  partitions: ReadonlyArray<
    TopicPartition & { offset?: string | null; kind?: 'full' | 'delta' | undefined; base?: string | undefined }
  >;
}

/** Decisions of one retention pass. */
export interface RetentionPlan {
  /** Valid checkpoints to delete. */
  delete: string[];
  /** Incomplete checkpoints (debris of crashed or failed writes) to delete. */
  deleteIncomplete: string[];
  /** Corrupt checkpoints to move to quarantine. */
  quarantine: string[];
  /** Checkpoints kept, with the rule that kept each. */
  keep: Array<{ id: string; why: string }>;
}

const HOUR = 3_600_000;

/** Validates a policy; throws ConfigError naming the bad field. */
export function resolveRetention(policy: RetentionPolicy | undefined): ResolvedRetention {
  const p = policy ?? {};
  checkOptions(p, 'retention', ['keepLast', 'maxAgeMs', 'incompleteAfterMs']);
  const keepLast = intOption('retention.keepLast', p.keepLast, { min: 1, default: 3 });
  if (
    p.maxAgeMs !== undefined &&
    (typeof p.maxAgeMs !== 'number' || !(p.maxAgeMs > 0) || !Number.isFinite(p.maxAgeMs))
  ) {
    throw new ConfigError(`retention "maxAgeMs" must be a number > 0, got ${String(p.maxAgeMs)}`);
  }
  const incompleteAfterMs = numberOption('retention.incompleteAfterMs', p.incompleteAfterMs, { min: 0, default: HOUR });
  return { keepLast, maxAgeMs: p.maxAgeMs, incompleteAfterMs };
}

/**
 * Decides what to delete. `checkpoints` may come in any order; `inUse` are
 * ids being read (here or by another process). Pure: no I/O.
 *
 * "Newest N" is applied per partition because consumers sharing a directory
 * each checkpoint only the partitions they own: a checkpoint may go only when
 * every partition it holds has `keepLast` newer valid checkpoints holding it.
 * Newest is not furthest ahead: a member that checkpoints a partition it has
 * not finished restoring, or a slow one handing it over late, can write a
 * newer checkpoint holding it at a lower offset; recovery takes the highest
 * offset (see planRestore), so that checkpoint is kept whatever its age.
 * A kept checkpoint's delta segments need their chain: every checkpoint a
 * kept one's deltas apply to (transitively) is kept too.
 */
export function planRetention(
  checkpoints: readonly RetentionCandidate[],
  policy: ResolvedRetention,
  nowMs: number,
  inUse: ReadonlySet<string>,
): RetentionPlan {
  const plan: RetentionPlan = { delete: [], deleteIncomplete: [], quarantine: [], keep: [] };
  const newestFirst = [...checkpoints].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const newer = new Map<string, number>(); // partition -> valid checkpoints seen so far (all newer)
  const furthest = new Map<string, string[]>(); // checkpoint id -> partitions it holds furthest ahead
  const planned = checkpoints.map((c) => ({
    ...c,
    partitions: c.partitions.map((p) => ({ ...p, offset: p.offset ?? null })),
  }));
  for (const choice of firstChoices(planned).values()) {
    const list = furthest.get(choice.id) ?? [];
    list.push(`${formatTopicPartition(choice)} at its highest offset, ${choice.offset}`);
    furthest.set(choice.id, list);
  }
  let newestValid = true;
  for (const c of newestFirst) {
    const age = nowMs - checkpointTime(c.id);
    if (c.status === 'corrupt') {
      if (inUse.has(c.id)) plan.keep.push({ id: c.id, why: 'corrupt but being read' });
      else plan.quarantine.push(c.id);
      continue;
    }
    if (c.status === 'incomplete') {
      if (age > policy.incompleteAfterMs && !inUse.has(c.id)) plan.deleteIncomplete.push(c.id);
      else plan.keep.push({ id: c.id, why: 'incomplete, maybe still being written' });
      continue;
    }
    if (c.status !== 'valid') {
      plan.keep.push({ id: c.id, why: 'unsupported by this version: not ours to judge' });
      continue;
    }
    let newestOfAPartition = false;
    let superseded = true;
    for (const tp of c.partitions) {
      const k = formatTopicPartition(tp);
      const n = newer.get(k) ?? 0;
      if (n === 0) newestOfAPartition = true;
      if (n < policy.keepLast) superseded = false;
      newer.set(k, n + 1);
    }
    const expired = policy.maxAgeMs !== undefined && age > policy.maxAgeMs;
    let why: string | undefined;
    if (newestValid) why = 'newest valid checkpoint';
    else if (inUse.has(c.id)) why = 'being read';
    else if (newestOfAPartition) why = 'newest valid checkpoint of one of its partitions';
    else if (furthest.has(c.id)) why = `holds ${furthest.get(c.id)!.join(', ')}`;
    else if (!superseded && !expired) why = `within the newest ${policy.keepLast} of one of its partitions`;
    newestValid = false;
    if (why === undefined) plan.delete.push(c.id);
    else plan.keep.push({ id: c.id, why });
  }
  keepChains(plan, checkpoints);
  return plan;
}

// Moves every checkpoint a kept one's deltas depend on from `delete` to `keep`.
function keepChains(plan: RetentionPlan, checkpoints: readonly RetentionCandidate[]): void {
  const byId = new Map(checkpoints.map((c) => [c.id, c]));
  const deleting = new Set(plan.delete);
  const work = plan.keep.map((k) => k.id);
  while (work.length > 0) {
    const id = work.pop()!;
    for (const p of byId.get(id)?.partitions ?? []) {
      if (p.kind !== 'delta' || p.base === undefined || !deleting.has(p.base)) continue;
      deleting.delete(p.base);
      plan.keep.push({ id: p.base, why: `base of ${p.topic}:${p.partition} in kept checkpoint ${id}` });
      work.push(p.base);
    }
  }
  plan.delete = plan.delete.filter((id) => deleting.has(id));
}
