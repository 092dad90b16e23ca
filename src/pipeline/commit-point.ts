import type { StateStore } from '../state/state-store.js';
import { type PartitionOffset, topicPartitionKey } from '../util/topic-partition.js';
import { notify, type PipelineObserver } from './observer.js';
import type { Progress } from './progress.js';
import { asError } from './record-runner.js';
import type { Source } from './source.js';

/**
 * The pipeline's one commit point (internal). Every commit trigger calls
 * {@link CommitPoint.commit} under the pipeline's lock: records or time
 * since the last commit, the commit timer, a handler failure, a revocation,
 * a stop. Invariants 1 and 2: state and next offsets in one durable
 * transaction, then the same offsets to the source.
 */
export class CommitPoint {
  private sourceCommits: Promise<void> = Promise.resolve();
  // Offsets waiting for the commit in flight, each partition's latest (one
  // owner: toSource fills it, the waiting link of the chain empties it when
  // it starts; not empty means a link is waiting).
  private readonly queued = new Map<string, PartitionOffset>();

  constructor(
    private readonly progress: Progress,
    private readonly store: StateStore,
    private readonly source: Source,
    private readonly observers: readonly PipelineObserver[],
  ) {}

  /** Commits every owned partition whose offset moved since its last commit; nothing when none did. */
  async commit(): Promise<void> {
    const pending = this.progress.beginCommit();
    if (pending.length === 0) return;
    const offsets = pending.map((c) => c.offset);
    let result: Awaited<ReturnType<StateStore['commit']>>;
    try {
      result = await this.store.commit(offsets);
    } catch (err) {
      notify(this.observers, 'commitFailed', asError(err));
      throw err;
    }
    for (const c of pending) c.p.markCommitted(c.offset);
    notify(this.observers, 'committed', {
      durationMs: result.durationMs,
      entries: result.entries,
      partitions: result.partitions,
    });
    this.toSource(offsets);
  }

  /**
   * Offsets of durable state to the source, in order, not awaited (a broker
   * round trip per commit would halve throughput). The state's offset is
   * the source of truth; the group offset only matters for lag and for
   * partitions that have no state. Offsets given while a commit is in
   * flight wait in one merged commit (each partition's latest offset)
   * behind it, so a slow broker costs at most two round trips to drain,
   * not one per commit made meanwhile.
   */
  toSource(offsets: readonly PartitionOffset[]): void {
    const linkWaiting = this.queued.size > 0;
    for (const o of offsets) this.queued.set(topicPartitionKey(o.topic, o.partition), o);
    if (linkWaiting) return; // the waiting commit takes them when it starts
    this.sourceCommits = this.sourceCommits.then(() => {
      const batch = [...this.queued.values()];
      this.queued.clear();
      return this.source
        .commit(batch)
        .catch((err: unknown) => notify(this.observers, 'sourceCommitFailed', asError(err)));
    });
  }

  /** Settles once every offset given so far has been committed to the source, or failed. */
  drained(): Promise<void> {
    return this.sourceCommits;
  }
}
