import { formatTopicPartition } from '../util/topic-partition.js';
import type { Counter } from 'prom-client';
import { StoreClosedError } from '../errors/store-closed-error.js';
import type { StateStore } from '../state/state-store.js';
import type { PartitionStats, StoreStats } from '../state/stats.js';
import type { Instruments, PartitionLabel } from './instruments.js';

type CumulativeField = Exclude<keyof PartitionStats, 'entries'>;

/**
 * Turns StateStore.stats(), read at scrape time, into metrics. stats() gives
 * cumulative counts since the store opened; each becomes a real Counter,
 * increased by what it grew since the previous read (prom-client counters
 * have no set(), and a gauge would lie about its type). A counter therefore
 * never goes down, also across stores closed and opened again in one
 * process (a new store starts from zero and adds to it).
 */
export class StoreCollector {
  private readonly counters: ReadonlyArray<[CumulativeField, Counter<PartitionLabel>]>;
  /** Per tracked store, the counts last added, per partition. */
  private readonly tracked = new Map<StateStore, Map<string, Record<CumulativeField, number>>>();

  constructor(private readonly m: Instruments) {
    this.counters = [
      ['gets', m.stateGets],
      ['puts', m.statePuts],
      ['deletes', m.stateDeletes],
      ['cacheHits', m.cacheHits],
      ['cacheMisses', m.cacheMisses],
      ['evictions', m.cacheEvictions],
      ['expirations', m.expirations],
    ];
  }

  track(store: StateStore): () => void {
    if (!this.tracked.has(store)) this.tracked.set(store, new Map());
    this.refresh();
    return () => {
      // Keep what it counted until now; its gauges go with it.
      if (!store.closed) this.add(store);
      this.tracked.delete(store);
      this.refresh();
    };
  }

  /**
   * Reads every tracked store and updates the metrics. A store found closed
   * is dropped: what it counted after the previous read is lost (the
   * pipeline refreshes at each commit, so that is at most the expiry sweep
   * since the last one).
   */
  refresh(): void {
    const entries = new Map<string, { topic: string; partition: string; value: number }>();
    let cached = 0;
    let dirty = 0;
    for (const store of [...this.tracked.keys()]) {
      const stats = this.add(store);
      if (stats === undefined) continue;
      for (const p of stats.partitions) {
        const k = formatTopicPartition(p);
        const e = entries.get(k);
        if (e === undefined) entries.set(k, { topic: p.topic, partition: String(p.partition), value: p.entries });
        else e.value += p.entries;
      }
      cached += stats.cachedEntries;
      dirty += stats.dirtyEntries;
    }
    // Partitions no tracked store holds any more lose their series.
    this.m.stateEntries.reset();
    for (const e of entries.values()) this.m.stateEntries.set({ topic: e.topic, partition: e.partition }, e.value);
    this.m.stateCachedEntries.set(cached);
    this.m.stateDirtyEntries.set(dirty);
  }

  // Adds one store's growth since its last read to the counters.
  private add(store: StateStore): StoreStats | undefined {
    const last = this.tracked.get(store);
    if (last === undefined) return undefined;
    let stats: StoreStats;
    try {
      if (store.closed) throw new StoreClosedError();
      stats = store.stats();
    } catch (err) {
      if (err instanceof StoreClosedError) this.tracked.delete(store);
      else process.emitWarning(`tidemark: metrics could not read the state store's stats: ${(err as Error).message}`);
      return undefined;
    }
    for (const p of stats.partitions) {
      const k = formatTopicPartition(p);
      const labels = { topic: p.topic, partition: String(p.partition) };
      const before = last.get(k);
      const now = {} as Record<CumulativeField, number>;
      for (const [field, counter] of this.counters) {
        const value = p[field];
        const was = before?.[field] ?? 0;
        // Smaller than before: the partition's counts started over; all of it is new.
        counter.inc(labels, value >= was ? value - was : value);
        now[field] = value;
      }
      last.set(k, now);
    }
    return stats;
  }
}
