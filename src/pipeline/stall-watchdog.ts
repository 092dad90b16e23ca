import { formatTopicPartition, type PartitionOffset, type TopicPartition } from '../util/topic-partition.js';
import type { StalledPartition } from './observer.js';
import type { PartitionProgress } from './progress.js';

/** What the watchdog sees of the pipeline. */
export interface StallWatchdogContext {
  /** False once the pipeline stops: no check runs, no change is reported. */
  active(): boolean;
  /** The owned partitions' progress. */
  partitions(): Iterable<PartitionProgress>;
  /** True while `p` is still owned (not revoked or reassigned since). */
  owns(p: PartitionProgress): boolean;
  logEndOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]>;
  /** The list of stalled partitions changed (empty: progress resumed). */
  changed(stalled: StalledPartition[]): void;
}

/**
 * The stall watchdog (internal): a recovered partition with records waiting
 * and no batch for `stallAfterMs` cannot make progress (left paused, a fetch
 * or a handler that never returns...): it is reported, and the pipeline is
 * not ready, until it moves.
 */
export class StallWatchdog {
  private readonly stalled = new Map<string, StalledPartition>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly stallAfterMs: number,
    private readonly ctx: StallWatchdogContext,
  ) {}

  /** Checks every quarter of `stallAfterMs`; 0 disables. */
  start(): void {
    if (this.stallAfterMs <= 0) return;
    this.timer = setInterval(() => void this.check(), Math.max(50, Math.floor(this.stallAfterMs / 4)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** True while some partition is stalled. */
  get any(): boolean {
    return this.stalled.size > 0;
  }

  /** The stalled partitions now. */
  list(): StalledPartition[] {
    return [...this.stalled.values()];
  }

  /** The partitions moved or left: forgets them; true when one of them was stalled (the caller reports it). */
  forget(tps: readonly TopicPartition[]): boolean {
    let changed = false;
    for (const tp of tps) changed = this.stalled.delete(formatTopicPartition(tp)) || changed;
    return changed;
  }

  /** One check (the timer runs them; one at a time). */
  async check(): Promise<void> {
    if (!this.ctx.active() || this.checking) return;
    this.checking = true;
    try {
      const now = performance.now();
      const idle = [...this.ctx.partitions()].filter((p) => !p.recovering && now - p.activeAt >= this.stallAfterMs);
      const found = new Map<string, StalledPartition>();
      if (idle.length > 0) {
        const ends = new Map(
          (await this.ctx.logEndOffsets(idle.map((p) => p.tp))).map((o) => [formatTopicPartition(o), BigInt(o.offset)]),
        );
        for (const p of idle) {
          const end = ends.get(formatTopicPartition(p.tp));
          if (end === undefined || end <= (p.next ?? 0n) || !this.ctx.owns(p) || now - p.activeAt < this.stallAfterMs)
            continue;
          found.set(formatTopicPartition(p.tp), {
            topic: p.tp.topic,
            partition: p.tp.partition,
            next: p.next === undefined ? undefined : String(p.next),
            logEnd: String(end),
            idleMs: Math.round(performance.now() - p.activeAt),
          });
        }
      }
      const same = found.size === this.stalled.size && [...found.keys()].every((k) => this.stalled.has(k));
      if (same || !this.ctx.active()) return;
      this.stalled.clear();
      for (const [k, v] of found) this.stalled.set(k, v);
      this.ctx.changed([...found.values()]);
    } catch {
      // The source could not answer (a broker away): the next check asks again.
    } finally {
      this.checking = false;
    }
  }
}
