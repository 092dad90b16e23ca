// Carries out a restore plan (restore-plan.ts): reads the checkpoints it
// chose, falls back where one fails, quarantines what is corrupt, then
// replaces the partitions' state.
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { MigrationError } from '../errors/migration-error.js';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import type { RawEntry } from '../state/backend.js';
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
import { applyDeltas } from './chain-merge.js';
import { readDeltaRecords, readRecords, type DeltaRecord } from './records.js';
import type { RepositoryContext } from './repository-context.js';
import {
  chainResolver,
  planRestore,
  quarantineNote,
  restoreRound,
  splitHeld,
  type PartitionRestorePlan,
} from './restore-plan.js';
import { keyFor, loadSegment, assertReadable, Vanished } from './segment-reader.js';

/** What the executor needs beyond the shared context. */
export interface RestoreContext extends RepositoryContext {
  list(): Promise<CheckpointInfo[]>;
  get(id: string): Promise<CheckpointInfo>;
  /** Moves a checkpoint to quarantine; false if it could not. */
  quarantine(id: string, reason: string): Promise<boolean>;
  /** True if this repository already moved it (a stale listing may still show it). */
  quarantinedHere(id: string): boolean;
}

/** A verified partition held in memory until every segment of a restore has passed. */
interface LoadedPartition {
  info: CheckpointInfo;
  part: CheckpointPartitionInfo;
  chunks: Buffer[];
  /** Schema version of its values. */
  schemaVersion: number;
  /** Its records migrated to the store's schema version, when older. */
  migrated?: RawEntry[];
  /** A delta's records migrated to the store's schema version, when older. */
  migratedDeltas?: DeltaRecord[];
  /**
   * Restored through a chain: this is the full base, these the deltas to
   * apply on it, oldest first (the last is the checkpoint restored).
   */
  deltas?: LoadedPartition[];
}

/** The partitions read and verified, and what was passed over: nothing replaced yet. */
interface Loaded {
  loaded: LoadedPartition[];
  skipped: SkippedCheckpoint[];
  missing: TopicPartition[];
}

/** Restores `wanted` (checked, unique) into `store` as CheckpointRepository.restore documents. */
export async function executeRestore(
  ctx: RestoreContext,
  store: RestoreTarget,
  wanted: TopicPartition[] | undefined,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const { loaded, skipped, missing } =
    options.id !== undefined
      ? await loadExplicit(ctx, store, options.id, wanted)
      : await loadPlanned(ctx, store, wanted, options);
  // Every segment has passed. Values of an older schema are migrated now,
  // every partition before any is replaced: a migration that throws leaves
  // the store as it was (MigrationError).
  for (const l of loaded) if (l.schemaVersion < store.schemaVersion) migrate(store, l);
  for (const l of loaded) for (const d of l.deltas ?? []) if (d.schemaVersion < store.schemaVersion) migrate(store, d);
  // Refuse now, before touching anything, if a partition has uncommitted
  // changes (release() throws for those).
  for (const l of loaded) store.release(l.part.topic, l.part.partition);
  const restored: RestoredPartition[] = [];
  for (const l of loaded) {
    const deltas = l.deltas ?? [];
    const head = deltas.at(-1) ?? l;
    const { topic, partition, offset } = head.part;
    const count = { n: 0 };
    let records: Iterable<RawEntry> = l.migrated ?? readRecords(l.chunks);
    if (deltas.length > 0) {
      records = applyDeltas(
        records,
        deltas.map((d) => d.migratedDeltas ?? readDeltaRecords(d.chunks)),
        count,
      );
    }
    await store.replacePartition({ topic, partition }, records, offset ?? undefined);
    const oldest = Math.min(l.schemaVersion, ...deltas.map((d) => d.schemaVersion));
    const migratedFrom = oldest < store.schemaVersion ? { migratedFrom: oldest } : {};
    const chain = deltas.length === 0 ? {} : { chain: [l.info.id, ...deltas.map((d) => d.info.id)] };
    const entries = deltas.length === 0 ? l.part.entries : count.n;
    // let them go before the next partition
    l.chunks = [];
    l.migrated = undefined;
    l.deltas = undefined;
    restored.push({ topic, partition, checkpointId: head.info.id, offset, entries, ...chain, ...migratedFrom });
  }
  return { restored, skipped, missing };
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

/** Verifies and loads `tps` of one checkpoint; holds a reader marker meanwhile. */
async function loadCheckpoint(
  ctx: RestoreContext,
  store: RestoreTarget,
  info: CheckpointInfo,
  tps: readonly TopicPartition[],
): Promise<LoadedPartition[]> {
  keyFor(ctx, info); // a key problem is configuration, not corruption: throw
  const schema = assertSchema(store, info);
  const release = await ctx.readers.acquire(info.id);
  try {
    const loaded: LoadedPartition[] = [];
    for (const tp of tps) {
      const part = info.partitions.find((p) => p.topic === tp.topic && p.partition === tp.partition)!;
      loaded.push({ info, part, chunks: await loadSegment(ctx, info, part), schemaVersion: schema });
    }
    return loaded;
  } finally {
    await release();
  }
}

async function loadExplicit(
  ctx: RestoreContext,
  store: RestoreTarget,
  id: string,
  wanted: TopicPartition[] | undefined,
): Promise<Loaded> {
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
  const chained = load.filter(isDeltaOf);
  try {
    const loaded = await loadCheckpoint(
      ctx,
      store,
      info,
      load.filter((tp) => !isDeltaOf(tp)),
    );
    if (chained.length > 0) {
      const listing = await ctx.list();
      const byId = new Map(listing.map((i) => [i.id, i]));
      const markers = markerHolder(ctx);
      try {
        for (const tp of chained) {
          const chain = chainResolver(listing, tp)(id);
          if (typeof chain === 'string')
            throw new CheckpointNotFoundError(
              `checkpoint ${id} holds ${formatTopicPartition(tp)} as a delta whose chain is broken: ${chain}`,
              id,
            );
          const r = await loadChain(ctx, store, byId, tp, chain, markers);
          if (r.loaded === undefined)
            throw new CheckpointNotFoundError(
              `checkpoint ${id}: ${formatTopicPartition(tp)} restores through ${r.failed}, which failed: ${r.skip.reason}`,
              id,
            );
          loaded.push(r.loaded);
        }
      } finally {
        await markers.releaseAll();
      }
      loaded.sort((a, b) => compareTopicPartitions(a.part, b.part));
    }
    return { loaded, skipped: [], missing };
  } catch (err) {
    if (err instanceof CheckpointCorruptError) await ctx.quarantine(id, err.reason);
    if (err instanceof Vanished) throw new CheckpointNotFoundError(err.message, id);
    throw err;
  }
}

// Runs planRestore's choices round by round (restoreRound): a checkpoint
// that fails sends its partitions on to their next candidates.
async function loadPlanned(
  ctx: RestoreContext,
  store: RestoreTarget,
  wanted: TopicPartition[] | undefined,
  options: RestoreOptions,
): Promise<Loaded> {
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
  const loaded: LoadedPartition[] = [];
  let pending: PartitionRestorePlan[] = plan.partitions;
  const markers = markerHolder(ctx);
  try {
    while (pending.length > 0) {
      const round = restoreRound(pending, failed);
      missing.push(...round.missing);
      pending = [];
      for (const { id, partitions } of round.loads) {
        const info = byId.get(id)!;
        const plain = partitions.filter((tp) => tp.chain === undefined);
        if (plain.length > 0) {
          try {
            loaded.push(...(await loadCheckpoint(ctx, store, info, plain)));
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
          const r = await loadChain(ctx, store, byId, { topic: tp.topic, partition: tp.partition }, tp.chain, markers);
          if (r.loaded !== undefined) loaded.push(r.loaded);
          else {
            skipped.push(r.skip);
            if (r.failed !== id)
              skipped.push({
                id,
                reason: `${formatTopicPartition(tp)} restores through ${r.failed}, which failed (left in place)`,
              });
            failed.add(r.failed);
            pending.push(plan); // on to its next candidate
          }
        }
      }
    }
  } finally {
    await markers.releaseAll();
  }
  missing.sort(compareTopicPartitions);
  loaded.sort((a, b) => compareTopicPartitions(a.part, b.part));
  return { loaded, skipped, missing };
}

// Loads one partition's chain, full base first: the base carries the
// deltas. A link that fails is reported (quarantined if corrupt) and named.
async function loadChain(
  ctx: RestoreContext,
  store: RestoreTarget,
  byId: ReadonlyMap<string, CheckpointInfo>,
  tp: TopicPartition,
  chain: readonly string[],
  markers: MarkerHolder,
): Promise<
  { loaded: LoadedPartition; failed?: undefined } | { loaded?: undefined; failed: string; skip: SkippedCheckpoint }
> {
  const links: LoadedPartition[] = [];
  for (const id of chain) {
    const info = byId.get(id)!;
    try {
      await markers.hold(id);
      links.push(...(await loadCheckpoint(ctx, store, info, [tp])));
    } catch (err) {
      return { failed: id, skip: await onLoadFailure(ctx, info, err) };
    }
  }
  const base = links[0]!;
  base.deltas = links.slice(1);
  return { loaded: base };
}

/** Reader markers held for a whole restore, one per checkpoint (loadCheckpoint's own then only count). */
interface MarkerHolder {
  hold(id: string): Promise<void>;
  releaseAll(): Promise<void>;
}

function markerHolder(ctx: RestoreContext): MarkerHolder {
  const held = new Map<string, () => Promise<void>>();
  return {
    async hold(id) {
      if (!held.has(id)) held.set(id, await ctx.readers.acquire(id));
    },
    async releaseAll() {
      for (const release of held.values()) await release();
      held.clear();
    },
  };
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

// Migrates one loaded partition's values from its checkpoint's schema to
// the store's, into memory (the chunks are let go as it goes).
function migrate(store: RestoreTarget, l: LoadedPartition): void {
  const tp = { topic: l.part.topic, partition: l.part.partition };
  const step = { at: l.schemaVersion };
  const out: RawEntry[] = [];
  const deltaOut: DeltaRecord[] = [];
  const delta = l.part.kind === 'delta';
  try {
    if (delta) {
      for (const raw of readDeltaRecords(l.chunks)) {
        deltaOut.push({
          key: Buffer.from(raw.key),
          value:
            raw.value === null
              ? null
              : migrateStoredValue(
                  tp,
                  { key: raw.key, value: raw.value },
                  l.schemaVersion,
                  store.schemaVersion,
                  store.migrations,
                  step,
                ),
        });
      }
    }
    for (const raw of delta ? [] : readRecords(l.chunks)) {
      out.push({
        key: Buffer.from(raw.key),
        value: migrateStoredValue(tp, raw, l.schemaVersion, store.schemaVersion, store.migrations, step),
      });
    }
  } catch (err) {
    throw new MigrationError(
      `restoring ${formatTopicPartition(tp)} from checkpoint ${l.info.id}: migration from schema version ${step.at} to ${step.at + 1} failed; ` +
        `nothing was restored: ${(err as Error).message}`,
      step.at,
      { cause: err },
    );
  }
  l.chunks = [];
  if (delta) l.migratedDeltas = deltaOut;
  else l.migrated = out;
}
