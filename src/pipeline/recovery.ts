import type { CheckpointInfo, CheckpointRepository, SkippedCheckpoint } from '../checkpoint/repository.js';
import { planRestore } from '../checkpoint/restore-plan.js';
import type { StateStore } from '../state/state-store.js';
import type { TopicPartition } from '../util/topic-partition.js';
import type { RecoveryReport } from './observer.js';

/**
 * Brings one assigned partition's state to the best consistent point
 * available (DESIGN.md, "Recovery order"):
 *
 * 1. local LMDB state, at its stored offset, unless a valid checkpoint holds
 *    the partition further ahead (another consumer owned it since);
 * 2. else the valid checkpoint holding it at the highest offset (the newest
 *    among equals; the plan of `planRestore`, shared with `tidemark
 *    restore`); a checkpoint that fails verification is quarantined and the
 *    next one tried; an older schema's is migrated as it is restored, a
 *    newer one's fails the partition (SchemaVersionError), never skipped;
 * 3. else empty state, from the source's own position.
 *
 * `listing` is the repository's list, taken once per rebalance. `signal`
 * abandons a restore in flight (the partition was revoked, the pipeline is
 * stopping): nothing of it is swapped in, and this rejects with its reason.
 */
export async function recoverPartition(
  store: StateStore,
  repository: CheckpointRepository | undefined,
  listing: readonly CheckpointInfo[],
  tp: TopicPartition,
  signal?: AbortSignal,
): Promise<RecoveryReport> {
  const started = performance.now();
  const local = store.offset(tp.topic, tp.partition);
  const skipped: SkippedCheckpoint[] = [];
  const done = (
    source: RecoveryReport['source'],
    offset: string | undefined,
    checkpointId?: string,
  ): RecoveryReport => ({
    topic: tp.topic,
    partition: tp.partition,
    source,
    offset,
    checkpointId,
    skipped,
    durationMs: performance.now() - started,
  });

  const plan = planRestore(listing, [tp], { above: () => local });
  if (repository !== undefined && plan.partitions[0]!.candidates.length > 0) {
    // The same plan as every restore (src/checkpoint/restore-plan.ts):
    // checkpoints holding the partition further ahead than local state,
    // highest offset first; one that fails verification is quarantined and
    // the next tried; one removed meanwhile (retention elsewhere) is passed
    // over. Anything else (a wrong key, a schema this code cannot read or
    // migrate, an unreadable disk) is for the operator: it is thrown.
    const result = await repository.restore(store, {
      partitions: [tp],
      listing,
      aheadOf: () => local,
      ...(signal === undefined ? {} : { signal }),
    });
    skipped.push(...result.skipped);
    const restored = result.restored[0];
    if (restored !== undefined) return done('checkpoint', restored.offset ?? undefined, restored.checkpointId);
  }
  if (local !== undefined) return done('local', local);
  return done('empty', undefined);
}
