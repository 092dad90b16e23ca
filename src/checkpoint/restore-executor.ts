// Carries out a restore plan (restore-plan.ts): streams the checkpoints it
// chose into staging (verified as they stream, written in short slices),
// falls back where one fails, quarantines what is corrupt, then swaps every
// staged partition in with its offset in one transaction.
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { MigrationError } from '../errors/migration-error.js';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { PartitionStaging, RawEntry, RestoreRecord } from '../state/backend.js';
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
import { readRecords } from './records.js';
import { notify, type RestoreProgressEvent } from './observer.js';
import type { RepositoryContext } from './repository-context.js';
import { planRestore, quarantineNote, restoreRound, splitHeld, type PartitionRestorePlan } from './restore-plan.js';
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

/** A partition streamed into staging and verified, waiting for the swap. */
interface StagedPartition {
  info: CheckpointInfo;
  part: CheckpointPartitionInfo;
  staging: PartitionStaging;
  /** Schema version of its checkpoint's values. */
  schemaVersion: number;
  progress: Progress;
}

/** A partition's restore progress, reported to the observer. */
class Progress {
  records = 0;
  bytes = 0;
  private readonly started = performance.now();

  constructor(
    private readonly ctx: RepositoryContext,
    private readonly info: CheckpointInfo,
    private readonly part: CheckpointPartitionInfo,
  ) {}

  report(phase: RestoreProgressEvent['phase']): void {
    notify(this.ctx.observer, 'restoreProgress', {
      topic: this.part.topic,
      partition: this.part.partition,
      checkpointId: this.info.id,
      phase,
      recordsRestored: this.records,
      recordsTotal: this.part.entries,
      bytesRestored: this.bytes,
      bytesTotal: this.part.rawBytes,
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
      ? await stageExplicit(ctx, store, options.id, wanted)
      : await stagePlanned(ctx, store, wanted, options);
  try {
    // Every segment has passed. Refuse now, before swapping anything, if a
    // partition has uncommitted changes (release() throws for those).
    for (const s of staged) store.release(s.part.topic, s.part.partition);
    await store.commitRestore(staged.map((s) => ({ staging: s.staging, offset: s.part.offset ?? undefined })));
  } catch (err) {
    abortAll(staged);
    throw err;
  }
  for (const s of staged) s.progress.report('done');
  const restored: RestoredPartition[] = staged.map((s) => {
    const { topic, partition, offset, entries } = s.part;
    const migratedFrom = s.schemaVersion < store.schemaVersion ? { migratedFrom: s.schemaVersion } : {};
    return { topic, partition, checkpointId: s.info.id, offset, entries, ...migratedFrom };
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
): Promise<StagedPartition[]> {
  keyFor(ctx, info); // a key problem is configuration, not corruption: throw
  const schema = assertSchema(store, info);
  const release = await ctx.readers.acquire(info.id);
  const staged: StagedPartition[] = [];
  try {
    for (const tp of tps) {
      const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
      const s: StagedPartition = {
        info,
        part,
        staging: store.beginRestore(tp),
        schemaVersion: schema,
        progress: new Progress(ctx, info, part),
      };
      staged.push(s);
      await streamSegment(ctx, store, s);
    }
    return staged;
  } catch (err) {
    abortAll(staged);
    throw err;
  } finally {
    await release();
  }
}

// One segment into its staging: the worker decodes and verifies chunk by
// chunk (the codec pipeline bounds what waits), the main thread writes each
// chunk's records in slices of at most SLICE_MS, migrating values of an
// older schema on the way.
async function streamSegment(ctx: RestoreContext, store: RestoreTarget, s: StagedPartition): Promise<void> {
  const tp = { topic: s.part.topic, partition: s.part.partition };
  const migrating = s.schemaVersion < store.schemaVersion;
  const step = { at: s.schemaVersion };
  const toRecord = migrating
    ? (raw: RawEntry): RestoreRecord => {
        try {
          return {
            key: raw.key,
            value: migrateStoredValue(tp, raw, s.schemaVersion, store.schemaVersion, store.migrations, step),
          };
        } catch (err) {
          throw new MigrationError(
            `restoring ${formatTopicPartition(tp)} from checkpoint ${s.info.id}: migration from schema version ${step.at} to ${step.at + 1} failed; ` +
              `nothing was restored: ${(err as Error).message}`,
            step.at,
            { cause: err },
          );
        }
      }
    : (raw: RawEntry): RestoreRecord => raw;
  await readSegment(ctx, s.info, s.part, async (chunk) => {
    const records = readRecords([chunk])[Symbol.iterator]();
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
    while (!done) {
      s.staging.apply(slice(), true);
      await yieldToLoop();
    }
    s.progress.bytes += chunk.length;
    s.progress.report('streaming');
  });
}

async function stageExplicit(
  ctx: RestoreContext,
  store: RestoreTarget,
  id: string,
  wanted: TopicPartition[] | undefined,
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
  try {
    return { staged: await stageCheckpoint(ctx, store, info, load), skipped: [], missing };
  } catch (err) {
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
  staged.sort((a, b) => compareTopicPartitions(a.part, b.part));
  return { staged, skipped, missing };

  async function stageRounds(): Promise<void> {
    while (pending.length > 0) {
      const round = restoreRound(pending, failed);
      missing.push(...round.missing);
      pending = [];
      for (const { id, partitions } of round.loads) {
        const info = byId.get(id)!;
        try {
          staged.push(...(await stageCheckpoint(ctx, store, info, partitions)));
        } catch (err) {
          skipped.push(await onLoadFailure(ctx, info, err));
          failed.add(id);
          pending.push(...partitions.map((tp) => planOf.get(tpKey(tp))!)); // on to their next candidates
        }
      }
    }
  }
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
