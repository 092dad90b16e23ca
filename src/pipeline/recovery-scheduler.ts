import { formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';

/** A recovery that was cancelled (its partition revoked, or the pipeline stopping). */
export class RecoveryCancelled extends Error {
  constructor(tp: TopicPartition) {
    super(`recovery of ${formatTopicPartition(tp)} was cancelled`);
    this.name = 'RecoveryCancelled';
  }
}

interface Entry {
  tp: TopicPartition;
  controller: AbortController;
  settled: Promise<void>;
}

/**
 * Runs partition recoveries concurrently, at most `limit` at a time, one at
 * a time per partition (a partition assigned again waits for its previous
 * recovery to settle), each cancellable through an AbortSignal (internal).
 */
export class RecoveryScheduler {
  private readonly byPartition = new Map<string, Entry>();
  private readonly all = new Set<Promise<void>>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /**
   * Runs `task` for `tp` once a slot is free and the partition's previous
   * recovery has settled. Rejects with {@link RecoveryCancelled} when
   * cancelled before it started, or with whatever `task` throws (a task
   * cancelled while it runs sees its signal aborted and should throw).
   */
  run<T>(tp: TopicPartition, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const k = formatTopicPartition(tp);
    const previous = this.byPartition.get(k)?.settled ?? Promise.resolve();
    const controller = new AbortController();
    const result = (async () => {
      await previous;
      await this.acquire();
      try {
        if (controller.signal.aborted) throw new RecoveryCancelled(tp);
        return await task(controller.signal);
      } finally {
        this.releaseSlot();
      }
    })();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    const entry: Entry = { tp, controller, settled };
    this.byPartition.set(k, entry);
    this.all.add(settled);
    void settled.then(() => {
      this.all.delete(settled);
      if (this.byPartition.get(k) === entry) this.byPartition.delete(k);
    });
    return result;
  }

  /** Cancels the recoveries of `tps`, queued or running. */
  cancel(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.byPartition.get(formatTopicPartition(tp))?.controller.abort(new RecoveryCancelled(tp));
  }

  /** Cancels every recovery, queued or running. */
  cancelAll(): void {
    for (const e of this.byPartition.values()) e.controller.abort(new RecoveryCancelled(e.tp));
  }

  /** Resolves when every recovery started so far has settled. */
  async settled(): Promise<void> {
    while (this.all.size > 0) await Promise.all([...this.all]);
  }

  /** Recoveries running now (not queued). */
  get active(): number {
    return this.running;
  }

  private async acquire(): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next !== undefined)
      next(); // the slot passes on
    else this.running--;
  }
}
