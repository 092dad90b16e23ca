import type { CheckpointInfo, CheckpointRepository, SkippedCheckpoint } from '../checkpoint/repository.js';
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
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
 *    among equals); a checkpoint that fails verification is quarantined and
 *    the next one tried;
 * 3. else empty state, from the source's own position.
 *
 * `listing` is the repository's list, taken once per rebalance.
 */
export async function recoverPartition(
  store: StateStore,
  repository: CheckpointRepository | undefined,
  listing: readonly CheckpointInfo[],
  tp: TopicPartition,
): Promise<RecoveryReport> {
  const started = performance.now();
  const local = store.offset(tp.topic, tp.partition);
  const skipped: SkippedCheckpoint[] = [];
  const done = (source: RecoveryReport['source'], offset: string | undefined, checkpointId?: string): RecoveryReport => ({
    topic: tp.topic,
    partition: tp.partition,
    source,
    offset,
    checkpointId,
    skipped,
    durationMs: performance.now() - started,
  });

  if (repository !== undefined) {
    const candidates = listing
      .filter((c) => c.status === 'valid' && !c.quarantined)
      .flatMap((c) => {
        const part = c.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition);
        return part?.offset == null ? [] : [{ id: c.id, offset: BigInt(part.offset), createdAt: c.createdAt.getTime() }];
      })
      .sort((a, b) => (a.offset === b.offset ? b.createdAt - a.createdAt : a.offset > b.offset ? -1 : 1));
    for (const c of candidates) {
      if (local !== undefined && BigInt(local) >= c.offset) break; // local state is at least as far along
      try {
        const result = await repository.restore(store, { id: c.id, partitions: [tp] });
        skipped.push(...result.skipped);
        const restored = result.restored[0];
        if (restored !== undefined) return done('checkpoint', restored.offset ?? undefined, restored.checkpointId);
      } catch (err) {
        // Failed verification (the repository quarantined it) or vanished
        // under retention elsewhere: try the next. Anything else (a wrong
        // key, an unreadable disk) is for the operator.
        if (!(err instanceof CheckpointCorruptError || err instanceof CheckpointNotFoundError)) throw err;
        skipped.push({ id: c.id, reason: err.message });
      }
    }
  }
  if (local !== undefined) return done('local', local);
  return done('empty', undefined);
}
