/** Counters for one partition's state, since the store was opened. */
export interface PartitionStats {
  gets: number;
  puts: number;
  deletes: number;
  cacheHits: number;
  cacheMisses: number;
  /** Clean entries dropped from the hot cache to respect its bound. */
  evictions: number;
  /** Entries found expired (on read or by the sweep) and removed. */
  expirations: number;
  /** Committed entries in the partition (all scopes), including expired ones not yet swept. */
  entries: number;
}

/** Per-partition counters plus store-wide figures. */
export interface StoreStats {
  partitions: Array<{ topic: string; partition: number } & PartitionStats>;
  /** Entries held decoded in memory now, clean and dirty. */
  cachedEntries: number;
  /** Entries changed since the last durable commit. */
  dirtyEntries: number;
  commits: number;
  /** Commits that failed (each one's changes were kept for the next commit). */
  failedCommits: number;
}

/** Mutable counters (internal). */
export type Counters = Omit<PartitionStats, 'entries'>;

export function newCounters(): Counters {
  return { gets: 0, puts: 0, deletes: 0, cacheHits: 0, cacheMisses: 0, evictions: 0, expirations: 0 };
}
