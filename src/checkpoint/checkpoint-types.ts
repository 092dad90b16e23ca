// The repository's public shapes: what listing, restore, verify and prune
// return, and the options they take.
import type { StateStore } from '../state/state-store.js';
import type { Clock } from '../util/clock.js';
import type { TopicPartition } from '../util/topic-partition.js';
import type { Manifest, ManifestEncryption, ManifestPartition } from './manifest.js';
import type { CheckpointObserver } from './observer.js';
import type { CheckpointStorage } from './storage.js';

/** Integrity of a checkpoint as far as this code can tell. */
export type CheckpointStatus = 'valid' | 'corrupt' | 'incomplete' | 'unsupported';

/** One partition of a checkpoint, as its manifest records it. */
export type CheckpointPartitionInfo = ManifestPartition;

/** A checkpoint as listed: from its manifest and the objects present. */
export interface CheckpointInfo {
  id: string;
  createdAt: Date;
  /**
   * `valid`: manifest intact and every segment present at its recorded size
   * (`verify` re-checks every byte); `corrupt`: it is not (see `reason`);
   * `incomplete`: no manifest (being written, or a write that died);
   * `unsupported`: written in a newer format.
   */
  status: CheckpointStatus;
  reason?: string;
  /** True for checkpoints under `quarantine/`. */
  quarantined: boolean;
  partitions: CheckpointPartitionInfo[];
  entries: number;
  rawBytes: number;
  /** Bytes of its objects as stored. */
  storedBytes: number;
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /** Encryption, and whether this repository holds the key. */
  encryption?: ManifestEncryption & { keyAvailable: boolean };
}

/** Options for {@link CheckpointRepository}. */
export interface CheckpointRepositoryOptions {
  storage: CheckpointStorage;
  /** AES-256 key (32 bytes): new checkpoints are encrypted with it. */
  key?: Buffer;
  /** Older keys, accepted for reading only (key rotation). */
  previousKeys?: Buffer[];
  /** zstd level of new checkpoints, -7..22; default 3. */
  compressionLevel?: number;
  /** A reader marker from another host counts for this long after its last refresh; default 10 minutes. */
  readerMarkerTtlMs?: number;
  observer?: CheckpointObserver;
  /** Time source for checkpoint ids and ages; default the system clock. */
  clock?: Clock;
}

/** Options for {@link CheckpointRepository.write}. */
export interface WriteOptions {
  /** Partitions to include; default every partition in the snapshot. Ones the snapshot lacks are left out. */
  partitions?: Iterable<TopicPartition>;
  /** Abandons the write (nothing becomes visible); rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once the id is chosen, before any byte is written. */
  onStarted?: (id: string, partitions: TopicPartition[]) => void;
  /**
   * Partitions to write as delta segments (format 2): for each, the
   * checkpoint it applies to, its depth in the chain, and the encoded keys
   * (latin1 strings) changed since that checkpoint's snapshot. A partition
   * for which this returns undefined, or whose base no longer has a
   * manifest in the storage, is written in full.
   */
  deltas?: (tp: TopicPartition) => DeltaRequest | undefined;
}

/** One partition to write as a delta segment. */
export interface DeltaRequest {
  base: string;
  depth: number;
  keys: ReadonlySet<string>;
}

/** Options for {@link CheckpointRepository.restore}. */
export interface RestoreOptions {
  /** Restore from this checkpoint only (no fallback); default the plan below. */
  id?: string;
  /**
   * Restore only these partitions. Default: every partition a valid
   * checkpoint holds. Without `id`, each comes from the valid checkpoint
   * holding it at the highest offset (the newest among equals), falling
   * back to the next highest (see planRestore in restore-plan.ts).
   */
  partitions?: Iterable<TopicPartition>;
  /** A listing already taken (recovery lists once per rebalance); default {@link list} now. Without `id` only. */
  listing?: readonly CheckpointInfo[];
  /**
   * A partition's local offset: only checkpoints holding it further ahead
   * are restored (recovery passes the local state's offset). Without `id` only.
   */
  aheadOf?: (tp: TopicPartition) => string | undefined;
  /**
   * Abandons the restore when aborted: checked between chunks and before
   * the swap; the staged state is dropped, nothing is replaced, and the
   * restore rejects with the signal's reason. A restore past that last
   * check completes.
   */
  signal?: AbortSignal;
}

/** A partition restored. */
export interface RestoredPartition extends TopicPartition {
  checkpointId: string;
  offset: string | null;
  entries: number;
  /** When restored through a chain (a delta): the checkpoints applied, the full base first, `checkpointId` last. */
  chain?: string[];
  /** The checkpoint's schema version, when its values were migrated to the store's as they were restored. */
  migratedFrom?: number;
}

/** A checkpoint passed over by restore, and why. */
export interface SkippedCheckpoint {
  id: string;
  reason: string;
}

/** What a restore did. */
export interface RestoreResult {
  restored: RestoredPartition[];
  skipped: SkippedCheckpoint[];
  /** Partitions asked for that no valid checkpoint holds. */
  missing: TopicPartition[];
}

/** Result of re-reading one checkpoint. */
export interface VerifyResult {
  id: string;
  status: CheckpointStatus;
  reason?: string;
  partitions: Array<CheckpointPartitionInfo & { ok: boolean; reason?: string }>;
}

/** Options for {@link CheckpointRepository.prune}. */
export interface PruneOptions {
  /** Decide only: nothing is deleted, moved or cleaned (dead reader markers included). */
  dryRun?: boolean;
}

/** What a retention pass did (or, in a dry run, would do). */
export interface PruneResult {
  deleted: string[];
  deletedIncomplete: string[];
  quarantined: string[];
  kept: Array<{ id: string; why: string }>;
  /** Temp-file debris removed by the storage. */
  cleaned: string[];
}

/** The state store as restore uses it. */
export type RestoreTarget = Pick<
  StateStore,
  | 'schemaVersion'
  | 'migrations'
  | 'replacePartition'
  | 'release'
  | 'beginRestore'
  | 'beginPhysicalRestore'
  | 'commitRestore'
  | 'stats'
>;
