// Carries out a restore plan (restore-plan.ts): streams the checkpoints it
// chose into staging (verified as they stream, written in short slices),
// falls back where one fails, quarantines what is corrupt, then swaps every
// staged partition in with its offset in one transaction.
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { MigrationError } from '../errors/migration-error.js';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PartitionStaging, RestoreRecord } from '../state/backend.js';
import { migrateStoredValue, missingMigration } from '../state/migrations.js';
import { compareTopicPartitions, formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';
import type {
  CheckpointInfo,
  CheckpointPartitionInfo,
  RestoredPartition,
  RestoreOptions,
  RestoreResult,
  RestoreTarget,
  SkippedCheckpoint,
} from './checkpoint-types.js';
import { tpKey } from './partition-set.js';
import { readDeltaRecords, readRecords } from './records.js';
import { notify, type RestoreProgressEvent } from './observer.js';
import type { RepositoryContext } from './repository-context.js';
import {
  chainResolver,
  planRestore,
  quarantineNote,
  restoreRound,
  splitHeld,
  type PartitionRestorePlan,
} from './restore-plan.js';
import { assertReadable, keyFor, readSegment, Vanished } from './segment-reader.js';

/** What the executor needs beyond the shared context. */
export interface RestoreContext extends RepositoryContext {
  list(): Promise<CheckpointInfo[]>;
  get(id: string): Promise<CheckpointInfo>;
  /** Moves a checkpoint to quarantine; false if it could not. */
  quarantine(id: string, reason: string): Promise<boolean>;
  /** True if this repository already moved it (a stale listing may still show it). */
  quarantinedHere(id: string): boolean;
}

/**
 * One segment of a partition's restore chain, in the order applied: a base
 * (every entry, keys ascending), then zero or more deltas (puts and deletes,
 * applied in order over what is staged). Today's checkpoints make chains of
 * one base ({@link baseLink}); delta segments plug in with their own
 * `records`.
 */
export interface ChainLink {
  info: CheckpointInfo;
  part: CheckpointPartitionInfo;
  /** Its keys ascend and follow everything staged before it (a base): LMDB's append path. */
  ascending: boolean;
  /** The records of one verified decoded chunk (whole records only), in order. */
  records(chunk: Buffer): Iterable<RestoreRecord>;
}

/** A full segment as the first link of a chain. */
export function baseLink(info: CheckpointInfo, part: CheckpointPartitionInfo): ChainLink {
  return { info, part, ascending: true, records: (chunk) => readRecords([chunk]) };
}

/** A delta segment (format 2) as a later link: its puts and deletes apply over what is staged. */
export function deltaLink(info: CheckpointInfo, part: CheckpointPartitionInfo): ChainLink {
  return { info, part, ascending: false, records: (chunk) => readDeltaRecords([chunk]) };
}

/** A link of a chain failed to stream: which one, and why. */
class LinkFailure extends Error {
  constructor(
    readonly link: ChainLink,
    readonly error: unknown,
  ) {
    super((error as Error)?.message ?? String(error));
  }
}

/** A partition streamed into staging and verified, waiting for the swap. */
interface StagedPartition {
  /** What it was restored from, oldest first; the last link gives its offset. */
  chain: ChainLink[];
  staging: PartitionStaging;
  progress: Progress;
}

/** The chain's newest link: its checkpoint and offset are the partition's. */
function head(s: StagedPartition): ChainLink {
  return s.chain[s.chain.length - 1]!;
}

/** A partition's restore progress, reported to the observer. */
class Progress {
  records = 0;
  bytes = 0;
  private readonly started = performance.now();

  private readonly recordsTotal: number;
  private readonly bytesTotal: number;

  constructor(
    private readonly ctx: RepositoryContext,
    private readonly chain: readonly ChainLink[],
  ) {
    this.recordsTotal = chain.reduce((n, l) => n + l.part.entries, 0);
    this.bytesTotal = chain.reduce((n, l) => n + l.part.rawBytes, 0);
  }

  report(phase: RestoreProgressEvent['phase']): void {
    const last = this.chain[this.chain.length - 1]!;
    notify(this.ctx.observer, 'restoreProgress', {
      topic: last.part.topic,
      partition: last.part.partition,
      checkpointId: last.info.id,
      phase,
      recordsRestored: this.records,
      recordsTotal: this.recordsTotal,
      bytesRestored: this.bytes,
      bytesTotal: this.bytesTotal,
      elapsedMs: performance.now() - this.started,
    });
  }
}

/** The partitions staged, and what was passed over: nothing swapped in yet. */
interface Staged {
  staged: StagedPartition[];
  skipped: SkippedCheckpoint[];
  missing: TopicPartition[];
}

// The main thread writes records into staging for at most this long before
// yielding to the event loop.
const SLICE_MS = 10;

/** Restores `wanted` (checked, unique) into `store` as CheckpointRepository.restore documents. */
export async function executeRestore(
  ctx: RestoreContext,
  store: RestoreTarget,
  wanted: TopicPartition[] | undefined,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { staged, skipped, missing } =
    options.id !== undefined
      ? await stageExplicit(ctx, store, options.id, wanted, options.signal)
      : await stagePlanned(ctx, store, wanted, options);
  try {
    options.signal?.throwIfAborted();
    // Every segment has passed. Refuse now, before swapping anything, if a
    // partition has uncommitted changes (release() throws for those).
    for (const s of staged) store.release(s.staging.tp.topic, s.staging.tp.partition);
    await store.commitRestore(staged.map((s) => ({ staging: s.staging, offset: head(s).part.offset ?? undefined })));
  } catch (err) {
    abortAll(staged);
    throw err;
  }
  for (const s of staged) s.progress.report('done');
  const restored: RestoredPartition[] = staged.map((s) => {
    const { info, part } = head(s);
    const { topic, partition, offset } = part;
    const oldest = Math.min(...s.chain.map((l) => l.info.manifest!.schemaVersion));
    const migratedFrom = oldest < store.schemaVersion ? { migratedFrom: oldest } : {};
    // Through a chain, the entries are what the store now holds, not the delta's records.
    const entries = s.chain.length === 1 ? part.entries : entryCount(store, { topic, partition });
    const chain = s.chain.length === 1 ? {} : { chain: s.chain.map((l) => l.info.id) };
    return { topic, partition, checkpointId: info.id, offset, entries, ...chain, ...migratedFrom };
  });
  return { restored, skipped, missing };
}

function abortAll(staged: readonly StagedPartition[]): void {
  for (const s of staged) {
    s.staging.abort();
    s.progress.report('failed');
  }
}

/** Refuses a checkpoint whose schema this store cannot take. @throws SchemaVersionError */
export function assertSchema(store: RestoreTarget, info: CheckpointInfo): number {
  const schema = info.manifest!.schemaVersion;
  if (schema > store.schemaVersion) {
    throw new SchemaVersionError(
      `checkpoint ${info.id} holds state of schema version ${schema}, newer than this store's ${store.schemaVersion}; ` +
        'refusing to restore it (run the code that wrote it on this member, or restore an older checkpoint with --checkpoint)',
      schema,
      store.schemaVersion,
    );
  }
  const gap = missingMigration(schema, store.schemaVersion, store.migrations);
  if (gap !== undefined) {
    throw new SchemaVersionError(
      `checkpoint ${info.id} holds state of schema version ${schema}, the store is at ${store.schemaVersion}; ` +
        `no migration from ${gap} to ${gap + 1} is registered (give the store "migrations" from ${schema} up)`,
      schema,
      store.schemaVersion,
    );
  }
  return schema;
}

/**
 * Streams `tps` of one checkpoint into staging, each verified as it streams;
 * holds a reader marker meanwhile. On failure every staging of it is
 * abandoned (the live state is untouched).
 */
async function stageCheckpoint(
  ctx: RestoreContext,
  store: RestoreTarget,
  info: CheckpointInfo,
  tps: readonly TopicPartition[],
  signal: AbortSignal | undefined,
): Promise<StagedPartition[]> {
  keyFor(ctx, info); // a key problem is configuration, not corruption: throw
  assertSchema(store, info);
  const release = await ctx.readers.acquire(info.id);
  const staged: StagedPartition[] = [];
  try {
    for (const tp of tps) {
      const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
      const chain = [baseLink(info, part)];
      const s: StagedPartition = { chain, staging: store.beginRestore(tp), progress: new Progress(ctx, chain) };
      staged.push(s);
      await streamChain(ctx, store, s, signal);
    }
    return staged;
  } catch (err) {
    abortAll(staged);
    throw err;
  } finally {
    await release();
  }
}

// A partition's chain into its staging, link by link: the worker decodes
// and verifies each segment chunk by chunk (the codec pipeline bounds what
// waits), the main thread writes each chunk's records in slices of at most
// SLICE_MS, migrating values of an older schema on the way. The caller holds
// reader markers on the chain's checkpoints. Nothing here keeps a view of a
// chunk past its sink (progress counts, migrated values are fresh buffers),
// so unless the staging keeps the records it is given, each chunk goes back
// to the worker to be decoded into again (readSegment's sinkReleasesChunks).
async function streamChain(
  ctx: RestoreContext,
  store: RestoreTarget,
  s: StagedPartition,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (const link of s.chain) {
    signal?.throwIfAborted();
    const toRecord = recordMapper(store, link);
    const attributed = s.chain.length > 1;
    const recycle = !s.staging.keepsRecordViews;
    await readSegment(
      ctx,
      link.info,
      link.part,
      async (chunk) => {
        signal?.throwIfAborted();
        const records = link.records(chunk)[Symbol.iterator]();
        let done = false;
        const slice = function* (): Generator<RestoreRecord> {
          const started = performance.now();
          let n = 0;
          for (;;) {
            const r = records.next();
            if (r.done === true) {
              done = true;
              return;
            }
            s.progress.records++;
            yield toRecord(r.value);
            if ((++n & 255) === 0 && performance.now() - started >= SLICE_MS) return;
          }
        };
        // Yield before each slice, not after: a chunk that arrives from the
        // worker is handled in the poll phase, and a slice written there would
        // be followed by the next one in the check phase of the same turn, with
        // no timers (heartbeats) between them.
        while (!done) {
          await yieldToLoop();
          signal?.throwIfAborted();
          s.staging.apply(slice(), link.ascending);
        }
        s.progress.bytes += chunk.length;
        s.progress.report('streaming');
      },
      recycle,
    ).catch((err: unknown) => {
      // In a chain, the link that failed is the one to quarantine.
      throw attributed && (err instanceof CheckpointCorruptError || err instanceof Vanished)
        ? new LinkFailure(link, err)
        : err;
    });
  }
}

// Identity, or the migration of a put's value from the link's schema to the
// store's: a new buffer (encodeValue), never a view of the chunk.
function recordMapper(store: RestoreTarget, link: ChainLink): (r: RestoreRecord) => RestoreRecord {
  const from = link.info.manifest!.schemaVersion;
  if (from >= store.schemaVersion) return (r) => r;
  const tp = { topic: link.part.topic, partition: link.part.partition };
  const step = { at: from };
  return (r) => {
    if (r.value === null) return r;
    try {
      return {
        key: r.key,
        value: migrateStoredValue(
          tp,
          { key: r.key, value: r.value },
          from,
          store.schemaVersion,
          store.migrations,
          step,
        ),
      };
    } catch (err) {
      throw new MigrationError(
        `restoring ${formatTopicPartition(tp)} from checkpoint ${link.info.id}: migration from schema version ${step.at} to ${step.at + 1} failed; ` +
          `nothing was restored: ${(err as Error).message}`,
        step.at,
        { cause: err },
      );
    }
  };
}

async function stageExplicit(
  ctx: RestoreContext,
  store: RestoreTarget,
  id: string,
  wanted: TopicPartition[] | undefined,
  signal: AbortSignal | undefined,
): Promise<Staged> {
  const info = await ctx.get(id);
  if (info.quarantined)
    throw new CheckpointNotFoundError(
      `checkpoint ${id} is in quarantine (${info.reason ?? 'corrupt'}); move it back to restore it`,
      id,
    );
  if (info.status === 'corrupt') await ctx.quarantine(id, info.reason ?? 'corrupt');
  await assertReadable(ctx, info);
  const { load, missing } = splitHeld(info.partitions, wanted);
  const isDeltaOf = (tp: TopicPartition): boolean =>
    info.partitions.some((p) => p.topic === tp.topic && p.partition === tp.partition && p.kind === 'delta');
  let staged: StagedPartition[] = [];
  try {
    staged = await stageCheckpoint(
      ctx,
      store,
      info,
      load.filter((tp) => !isDeltaOf(tp)),
      signal,
    );
    const chained = load.filter(isDeltaOf);
    if (chained.length > 0) {
      const listing = await ctx.list();
      const byId = new Map(listing.map((i) => [i.id, i]));
      for (const tp of chained) {
        const chain = chainResolver(listing, tp)(id);
        if (typeof chain === 'string')
          throw new CheckpointNotFoundError(
            `checkpoint ${id} holds ${formatTopicPartition(tp)} as a delta whose chain is broken: ${chain}`,
            id,
          );
        try {
          staged.push(
            await stageChain(
              ctx,
              store,
              tp,
              chain.map((c) => byId.get(c)!),
              signal,
            ),
          );
        } catch (err) {
          if (!(err instanceof LinkFailure)) throw err;
          const skip = await onLoadFailure(ctx, err.link.info, err.error);
          throw new CheckpointNotFoundError(
            `checkpoint ${id}: ${formatTopicPartition(tp)} restores through ${err.link.info.id}, which failed: ${skip.reason}`,
            id,
          );
        }
      }
      staged.sort((a, b) => compareTopicPartitions(a.staging.tp, b.staging.tp));
    }
    return { staged, skipped: [], missing };
  } catch (err) {
    abortAll(staged);
    if (err instanceof CheckpointCorruptError) await ctx.quarantine(id, err.reason);
    if (err instanceof Vanished) throw new CheckpointNotFoundError(err.message, id);
    throw err;
  }
}

// Runs planRestore's choices round by round (restoreRound): a checkpoint
// that fails sends its partitions on to their next candidates.
async function stagePlanned(
  ctx: RestoreContext,
  store: RestoreTarget,
  wanted: TopicPartition[] | undefined,
  options: RestoreOptions,
): Promise<Staged> {
  const infos = options.listing ?? (await ctx.list());
  const plan = planRestore(infos, wanted, options.aheadOf === undefined ? {} : { above: options.aheadOf });
  const byId = new Map(infos.map((i) => [i.id, i]));
  const skipped: SkippedCheckpoint[] = [];
  const missing: TopicPartition[] = [];
  for (const action of plan.passOverActions) {
    if (!action.quarantine) {
      skipped.push({ id: action.id, reason: `${action.reason} (left in place)` });
      continue;
    }
    const moved = ctx.quarantinedHere(action.id) || (await ctx.quarantine(action.id, action.reason));
    skipped.push({ id: action.id, reason: quarantineNote(action.reason, moved) });
  }
  for (const b of plan.broken) {
    skipped.push({
      id: b.id,
      reason: `${formatTopicPartition(b)} is a delta whose chain is broken: ${b.reason} (left in place)`,
    });
  }
  const planOf = new Map<string, PartitionRestorePlan>(plan.partitions.map((p) => [tpKey(p), p]));
  const failed = new Set<string>();
  const staged: StagedPartition[] = [];
  let pending: PartitionRestorePlan[] = plan.partitions;
  try {
    await stageRounds();
  } catch (err) {
    abortAll(staged);
    throw err;
  }
  missing.sort(compareTopicPartitions);
  staged.sort((a, b) => compareTopicPartitions(a.staging.tp, b.staging.tp));
  return { staged, skipped, missing };

  async function stageRounds(): Promise<void> {
    while (pending.length > 0) {
      const round = restoreRound(pending, failed);
      missing.push(...round.missing);
      pending = [];
      for (const { id, partitions } of round.loads) {
        const info = byId.get(id)!;
        const plain = partitions.filter((tp) => tp.chain === undefined);
        if (plain.length > 0) {
          try {
            staged.push(...(await stageCheckpoint(ctx, store, info, plain, options.signal)));
          } catch (err) {
            skipped.push(await onLoadFailure(ctx, info, err));
            failed.add(id);
            pending.push(...plain.map((tp) => planOf.get(tpKey(tp))!)); // on to their next candidates
          }
        }
        for (const tp of partitions) {
          if (tp.chain === undefined) continue;
          const plan = planOf.get(tpKey(tp))!;
          if (tp.chain.some((link) => failed.has(link))) {
            pending.push(plan);
            continue;
          }
          const links = tp.chain.map((c) => byId.get(c)!);
          try {
            staged.push(
              await stageChain(ctx, store, { topic: tp.topic, partition: tp.partition }, links, options.signal),
            );
          } catch (err) {
            if (!(err instanceof LinkFailure)) throw err;
            const bad = err.link.info;
            skipped.push(await onLoadFailure(ctx, bad, err.error));
            if (bad.id !== id)
              skipped.push({
                id,
                reason: `${formatTopicPartition(tp)} restores through ${bad.id}, which failed (left in place)`,
              });
            failed.add(bad.id);
            pending.push(plan); // on to its next candidate
          }
        }
      }
    }
  }
}

/**
 * Streams one partition's chain (its full base's checkpoint first, then each
 * delta's) into staging; holds every link's reader marker meanwhile. A link
 * that fails is thrown as a {@link LinkFailure} naming it; the staging is
 * abandoned.
 */
async function stageChain(
  ctx: RestoreContext,
  store: RestoreTarget,
  tp: TopicPartition,
  infos: readonly CheckpointInfo[],
  signal: AbortSignal | undefined,
): Promise<StagedPartition> {
  const chain = infos.map((info, i) => {
    const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
    return i === 0 ? baseLink(info, part) : deltaLink(info, part);
  });
  for (const link of chain) {
    keyFor(ctx, link.info); // a key problem is configuration, not corruption: throw
    assertSchema(store, link.info);
  }
  const releases: Array<() => Promise<void>> = [];
  let s: StagedPartition | undefined;
  try {
    for (const link of chain) releases.push(await ctx.readers.acquire(link.info.id));
    s = { chain, staging: store.beginRestore(tp), progress: new Progress(ctx, chain) };
    await streamChain(ctx, store, s, signal);
    return s;
  } catch (err) {
    if (s !== undefined) abortAll([s]);
    throw err;
  } finally {
    for (const release of releases) await release();
  }
}

// Entries a partition holds now (after the swap).
function entryCount(store: RestoreTarget, tp: TopicPartition): number {
  return store.stats().partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)?.entries ?? 0;
}

// A checkpoint that failed while being read: corrupt ones are quarantined,
// vanished ones skipped; anything else (key, schema, disk) is thrown.
async function onLoadFailure(ctx: RestoreContext, info: CheckpointInfo, err: unknown): Promise<SkippedCheckpoint> {
  if (err instanceof CheckpointCorruptError) {
    const moved = await ctx.quarantine(info.id, err.reason);
    return { id: info.id, reason: quarantineNote(err.reason, moved) };
  }
  if (err instanceof Vanished) return { id: info.id, reason: err.message };
  throw err;
}
