import type { TopicPartition } from '../util/topic-partition.js';

/**
 * One partition's share of a commit. Changes are encoded on demand, inside
 * the backend's transaction, so a commit allocates no intermediate arrays;
 * if `value(i)` throws, the whole write is abandoned.
 */
export interface PartitionWrite {
  readonly tp: TopicPartition;
  /** Number of changed entries. */
  readonly size: number;
  /** Encoded key of change `i`. */
  key(i: number): Buffer;
  /** Encoded value of change `i`, or null to delete it; valid only until the next call, so copy it or write it at once. */
  value(i: number): Buffer | null;
  /** Next offset to consume, written in the same transaction as the changes. */
  readonly offset?: string | undefined;
}

/** A raw entry as stored: encoded key and encoded value. */
export interface RawEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** Range of encoded keys: `start` inclusive, `end` exclusive. */
export interface RawRange {
  readonly start?: Buffer | undefined;
  readonly end?: Buffer | undefined;
  readonly reverse?: boolean | undefined;
}

/** A consistent, read-only view of the committed state (one LMDB read transaction). */
export interface BackendSnapshot {
  /** Schema version of the data in this snapshot. */
  readonly schemaVersion: number;
  /** Every partition with state or an offset, sorted. */
  partitions(): TopicPartition[];
  /** Committed next offset of a partition, if any. */
  offset(tp: TopicPartition): string | undefined;
  /** Number of stored entries of a partition. */
  entryCount(tp: TopicPartition): number;
  /** One stored value as of the snapshot (a copy owned by the caller), or undefined if absent. */
  get(tp: TopicPartition, key: Buffer): Buffer | undefined;
  /** Every stored entry of a partition in key order. Buffers are owned by the caller. */
  entries(tp: TopicPartition): Iterable<RawEntry>;
  /**
   * The same entries, but each value only valid until the iteration moves
   * on (a view of the backend's read buffer, no copy): for a reader that
   * copies every value at once, such as a checkpoint being written.
   */
  transientEntries(tp: TopicPartition): Iterable<RawEntry>;
  /**
   * Partitioned layout only: a compacted physical copy of one partition's
   * environment (LMDB's own consistent copy, made off the main thread). The
   * copy shows the partition at this snapshot's instant or later, never
   * earlier, so its offset and entry count are read from the copy itself.
   * Callable until {@link release}; the caller disposes of the copy.
   */
  physicalCopy?(tp: TopicPartition): Promise<PhysicalCopy>;
  /** Ends the snapshot; idempotent. */
  release(): void;
}

/**
 * What identifies a physical partition file's layout: LMDB's page size and
 * data-file version, and tidemark's own layout of databases and encodings
 * inside it. A reader takes a physical segment only when all three match.
 */
export interface PhysicalLayout {
  readonly pageSize: number;
  readonly dataVersion: number;
  readonly layout: number;
}

/** A physical copy of one partition, see {@link BackendSnapshot.physicalCopy}. */
export interface PhysicalCopy {
  /** A temporary file holding the copy, on local disk. */
  readonly file: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The partition's next offset in the copy. */
  readonly offset: string | undefined;
  /** Number of entries in the copy. */
  readonly entries: number;
  readonly layout: PhysicalLayout;
  /** Deletes the file; idempotent. */
  dispose(): Promise<void>;
}

/**
 * A partition being restored from a physical segment: the decompressed
 * file is written with {@link writeRaw} in order, {@link finishRaw} syncs
 * and opens it, then {@link PartitionStaging.apply} applies the chain's
 * deltas over it, and {@link Backend.commitStaged} swaps it in.
 * `apply` before `finishRaw` throws.
 */
export interface PhysicalStaging extends PartitionStaging {
  /**
   * Appends the next bytes of the file. `chunk` is the caller's again once
   * the promise settles (it may be reused).
   */
  writeRaw(chunk: Buffer): Promise<void>;
  /**
   * After the last byte: syncs the file to disk, opens it, and returns what
   * it holds, for the caller to compare with the manifest. Throws when the
   * file is not a readable environment of the expected layout.
   */
  finishRaw(): Promise<{ offset: string | undefined; entries: number }>;
}

/**
 * Persistence under the state store: LMDB or memory. Works on encoded keys and
 * values only; the store above it owns caching, TTL, scopes and validation.
 * Every write is synchronous, atomic and durable when it returns: the event
 * loop never sees a write in flight, so a commit's capture and its write are
 * the same instant.
 */
export interface Backend {
  /** True when data survives a process restart. */
  readonly persistent: boolean;
  /** Stored schema version, or undefined for a new store. */
  readonly schemaVersion: number | undefined;
  /** Reads one value; the returned buffer may be reused by the next call, so decode it at once. */
  get(tp: TopicPartition, key: Buffer): Buffer | undefined;
  /** Iterates stored entries in a key range (committed state only). */
  range(tp: TopicPartition, range: RawRange): Iterable<RawEntry>;
  /** Number of stored entries in a partition. */
  entryCount(tp: TopicPartition): number;
  /** Every partition with stored state or an offset. */
  partitions(): TopicPartition[];
  /** Committed next offset of a partition. */
  offset(tp: TopicPartition): string | undefined;
  /** Applies every change and offset in one transaction, durably; throws {@link StorageError} on failure. */
  write(writes: readonly PartitionWrite[]): void;
  /** Replaces a partition's entries and offset in one transaction, durably. */
  replacePartition(tp: TopicPartition, entries: Iterable<RawEntry>, offset: string | undefined): void;
  /**
   * Starts rebuilding a partition's state aside (a restore): what is staged
   * stays invisible until {@link commitStaged}; the live state is untouched.
   * Leftovers of an earlier staging of the partition are discarded first.
   */
  stagePartition(tp: TopicPartition): PartitionStaging;
  /**
   * Swaps staged partitions in, each with its offset, in one transaction,
   * durably; their previous states are freed afterwards.
   */
  commitStaged(items: ReadonlyArray<{ staging: PartitionStaging; offset: string | undefined }>): void;
  /**
   * Flushes what staging wrote (unsynced) to disk off the main thread, so
   * the swap's durable commit has little left to sync.
   */
  flushStaged?(): Promise<void>;
  /** Removes a partition's entries and offset in one transaction, durably. */
  dropPartition(tp: TopicPartition): void;
  /**
   * Rewrites every value and records `toVersion`, all in one transaction: if
   * `transform` throws, nothing changes. `transform` returns the new encoded
   * value (valid until its next call), or null to delete the entry.
   */
  migrate(toVersion: number, transform: (tp: TopicPartition, entry: RawEntry) => Buffer | null): void;
  /** Records the schema version of a new store. */
  initSchema(version: number): void;
  /** Opens a consistent read view of the committed state. */
  snapshot(): BackendSnapshot;
  /** Physical copy of the whole store into one new file (LMDB only). */
  backup?(targetFile: string): Promise<void>;
  /**
   * Starts restoring a partition from a physical segment (a compacted copy
   * of a partition's environment, see {@link PhysicalCopy}), or returns
   * undefined when this backend cannot take one with that layout (the
   * single-environment layout, memory, another page size or layout): the
   * caller then restores it logically. Invisible until {@link commitStaged},
   * like {@link stagePartition}.
   */
  stagePhysical?(tp: TopicPartition, layout: PhysicalLayout): PhysicalStaging | undefined;
  /** Closes files; pending writes finish first. */
  close(): Promise<void>;
}

/** One record of a restore stream: a put, or (value null) a delete. */
export interface RestoreRecord {
  key: Buffer;
  value: Buffer | null;
}

/** A partition's state being rebuilt aside by a restore; see {@link Backend.stagePartition}. */
export interface PartitionStaging {
  readonly tp: TopicPartition;
  /**
   * True when {@link apply} may keep a reference to a record's `key` or
   * `value` (or a view of either) after it returns. False when apply copies
   * what it keeps before returning: a restore then reuses the buffers the
   * records are views of (decoded chunks go back to the codec worker and are
   * decoded into again), which would empty any reference kept. Said by the
   * backend that made the staging, nobody else.
   */
  readonly keepsRecordViews: boolean;
  /**
   * Applies records, in order, in one transaction (not synced: the commit
   * is). `ascending`: their keys increase and follow every key staged so
   * far (a base segment), which allows LMDB's append path. The records'
   * buffers are valid until apply returns (see {@link keepsRecordViews}).
   */
  apply(records: Iterable<RestoreRecord>, ascending: boolean): void;
  /** Discards what was staged (best effort); the live state is untouched. */
  abort(): void;
}
