import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  CheckpointInfo,
  CheckpointObserver,
  CheckpointRepository,
  RestoreProgressEvent,
  RestoreResult,
} from '../../checkpoint/index.js';
import { planRestore } from '../../checkpoint/restore-plan.js';
import { SchemaVersionError } from '../../errors/schema-version-error.js';
import { StateStore, type Migrations } from '../../state/index.js';
import { formatTopicPartition, type TopicPartition } from '../../util/topic-partition.js';
import { openCheckpoints, type CheckpointDirOptions } from '../checkpoints.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { formatBytes, plural, table, type Output } from '../io.js';
import { startProgress } from '../progress.js';
import { stateDirShape } from '../state-dir.js';

export interface RestoreCommandOptions extends CheckpointDirOptions {
  state: string;
  checkpoint?: string;
  partition?: TopicPartition[];
  force?: boolean;
  /** A module exporting `schemaVersion` and `migrations`, as the consumer opens its store with. */
  migrations?: string;
  json?: boolean;
}

const same = (a: TopicPartition, b: TopicPartition): boolean => a.topic === b.topic && a.partition === b.partition;

/**
 * `tidemark restore`: offline restore into a state directory through
 * CheckpointRepository.restore (every segment verified before anything is
 * replaced; corrupt checkpoints quarantined and passed over).
 */
export async function restoreCommand(opts: RestoreCommandOptions, out: Output): Promise<number> {
  // Per-partition restore progress (records, bytes, rate), as the metrics show it.
  const observer: CheckpointObserver = {};
  const { repo, storage } = openCheckpoints(opts, out.io.env, out.io.env, observer);
  try {
    const shape = stateDirShape(opts.state);
    const dir = shape.dir;
    if (shape.exists && !shape.hasStore && shape.names.length > 0 && !opts.force) {
      throw new CliError(
        ExitCode.REFUSED,
        `${dir} is not empty and holds no tidemark state (${shape.names.slice(0, 5).join(', ')}${shape.names.length > 5 ? ', ...' : ''}); ` +
          'check the path, or pass --force to create the state store in it',
      );
    }
    const planned = await plannedCheckpoints(repo, opts);
    const schema =
      opts.migrations === undefined
        ? { schemaVersion: singleSchemaVersion(planned, opts) }
        : await loadMigrations(opts.migrations);
    const schemaVersion = schema.schemaVersion;

    let store: StateStore;
    try {
      store = await StateStore.open({ path: dir, sweepIntervalMs: 0, ...schema });
    } catch (err) {
      if (err instanceof SchemaVersionError) {
        throw new CliError(
          ExitCode.FAILURE,
          `the state in ${dir} is at schema version ${err.storedVersion}, the restore at ${schemaVersion}: ` +
            (opts.migrations === undefined
              ? "restore into an empty directory, or pass --migrations <module> (the consumer's schemaVersion and migrations)"
              : `${err.message}`),
          { cause: err },
        );
      }
      throw err;
    }
    let result: RestoreResult;
    let resumeFrom: Array<TopicPartition & { offset: string | null }>;
    let kept: TopicPartition[];
    let restoredAny = false;
    try {
      const present = store.partitions();
      const wanted = opts.partition;
      const overlapping = wanted === undefined ? present : present.filter((p) => wanted.some((w) => same(w, p)));
      if (overlapping.length > 0 && !opts.force) {
        throw new CliError(
          ExitCode.REFUSED,
          `${dir} already holds state for ${overlapping.map(formatTopicPartition).join(', ')}; ` +
            'refusing to overwrite it without --force (stop the consumer first; restore replaces each restored partition whole)',
        );
      }
      const expected = expectedBytes(planned, opts);
      const progress = startProgress(out.io, 'restore', expected, 'bytes');
      storage.onRead = (n) => progress.advance(n);
      // On a terminal, a line per partition as it is swapped in; logs and pipes stay as they were.
      if (out.io.stderr.isTTY === true) observer.restoreProgress = (e) => progress.note(describeProgress(e));
      try {
        result = await repo.restore(store, {
          ...(opts.checkpoint === undefined ? {} : { id: opts.checkpoint }),
          ...(wanted === undefined ? {} : { partitions: wanted }),
        });
      } finally {
        progress.stop();
      }
      restoredAny = result.restored.length > 0;
      kept = store
        .partitions()
        .filter(
          (p) => !result.restored.some((r) => same(r, p)) && (wanted === undefined || !wanted.some((w) => same(w, p))),
        );
      resumeFrom = store
        .partitions()
        .map((p) => ({ topic: p.topic, partition: p.partition, offset: store.offset(p.topic, p.partition) ?? null }));
    } finally {
      await store.close();
      // A directory this restore created and left empty goes again.
      if (!shape.exists && !restoredAny) fs.rmSync(dir, { recursive: true, force: true });
    }

    if (opts.json) {
      await out.json({
        stateDir: dir,
        restored: result.restored,
        skipped: result.skipped,
        missing: result.missing,
        keptLocal: kept,
        resumeFrom,
      });
    } else {
      for (const s of result.skipped) await out.line(`skipped ${s.id}: ${s.reason}`);
      for (const r of result.restored) {
        const at = r.offset === null ? 'with no offset' : `at offset ${r.offset}`;
        const migrated =
          r.migratedFrom === undefined ? '' : ` (migrated from schema version ${r.migratedFrom} to ${schemaVersion})`;
        await out.line(
          `restored ${formatTopicPartition(r)} from ${r.checkpointId} ${at}${migrated}: ${plural(r.entries, 'entry', 'entries')}`,
        );
      }
      for (const m of result.missing)
        await out.line(`missing ${formatTopicPartition(m)}: no valid checkpoint holds it`);
      if (kept.length > 0)
        await out.line(`kept local state (not in the checkpoint): ${kept.map(formatTopicPartition).join(', ')}`);
      if (resumeFrom.length > 0) {
        await out.line(`The consumer will resume from (state directory ${dir}):`);
        await out.lines(
          table(
            resumeFrom.map((r) => [
              formatTopicPartition(r),
              r.offset ?? "(no offset: the consumer's configured start position)",
            ]),
            '  ',
          ),
        );
      }
    }
    if (result.restored.length === 0) {
      out.note(
        `tidemark: nothing was restored: no valid checkpoint${opts.partition ? ` holds ${opts.partition.map(formatTopicPartition).join(', ')}` : ''} in ${storage.location}` +
          (result.skipped.length > 0 ? ` (${plural(result.skipped.length, 'checkpoint')} skipped)` : ''),
      );
      return ExitCode.NOT_FOUND;
    }
    if (result.missing.length > 0) {
      out.note(`tidemark: no valid checkpoint holds ${result.missing.map(formatTopicPartition).join(', ')}`);
      return ExitCode.NOT_FOUND;
    }
    return ExitCode.OK;
  } finally {
    await repo.close();
  }
}

/**
 * The checkpoints the restore will most likely use, per partition (the store
 * must be opened at their schema version before restoring): the one named,
 * or each partition's first choice in the plan every restore follows
 * (planRestore: the highest offset, the newest among equals), which is what
 * the consumer itself would recover from.
 */
async function plannedCheckpoints(repo: CheckpointRepository, opts: RestoreCommandOptions): Promise<CheckpointInfo[]> {
  if (opts.checkpoint !== undefined) return [await repo.get(opts.checkpoint)];
  const listing = await repo.list();
  const ids = new Set(
    planRestore(listing, opts.partition).partitions.flatMap((p) => p.candidates.slice(0, 1).map((c) => c.id)),
  );
  return listing.filter((i) => ids.has(i.id));
}

/**
 * Without --migrations the store is opened at the schema version of the
 * checkpoints to restore, which must agree (the consumer migrates the
 * directory when it opens it). The first choices are checked; a fallback of
 * another version is refused by the restore itself (SchemaVersionError).
 */
function singleSchemaVersion(planned: CheckpointInfo[], opts: RestoreCommandOptions): number {
  const byVersion = new Map<number, string[]>();
  const plan = planRestore(planned, opts.partition);
  for (const p of plan.partitions) {
    const info = planned.find((i) => i.id === p.candidates[0]?.id);
    const v = info?.manifest?.schemaVersion;
    if (v === undefined) continue;
    const list = byVersion.get(v) ?? [];
    list.push(`${formatTopicPartition(p)} in ${info!.id}`);
    byVersion.set(v, list);
  }
  if (opts.checkpoint !== undefined) return planned[0]?.manifest?.schemaVersion ?? 1;
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  if (versions.length <= 1) return versions[0] ?? 1;
  const held = versions.map((v) => `${v} (${byVersion.get(v)!.join(', ')})`);
  throw new CliError(
    ExitCode.FAILURE,
    `the checkpoints to restore hold schema versions ${held.slice(0, -1).join(', ')} and ${held.at(-1)}; one state directory holds one version: ` +
      "pass --migrations <module> (the consumer's schemaVersion and migrations) to migrate the older ones as they are restored",
  );
}

/** `--migrations <module>`: its `schemaVersion` and `migrations` exports (or its default export's). */
async function loadMigrations(file: string): Promise<{ schemaVersion: number; migrations: Migrations }> {
  const where = path.resolve(file);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(where).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(ExitCode.USAGE, `--migrations ${where} could not be loaded: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const source =
    mod.schemaVersion === undefined && typeof mod.default === 'object' && mod.default !== null
      ? (mod.default as Record<string, unknown>)
      : mod;
  const { schemaVersion, migrations } = source;
  const ok =
    Number.isSafeInteger(schemaVersion) &&
    (schemaVersion as number) >= 1 &&
    typeof migrations === 'object' &&
    migrations !== null &&
    Object.values(migrations).every((f) => typeof f === 'function');
  if (!ok) {
    throw new CliError(
      ExitCode.USAGE,
      `--migrations ${where} must export "schemaVersion" (an integer >= 1) and "migrations" ({ [n]: (value, ctx) => newValue }, n to n+1), as the consumer passes them to StateStore.open`,
    );
  }
  return { schemaVersion: schemaVersion as number, migrations: migrations as Migrations };
}

// Bytes the restore will read if nothing fails: each partition's segment in its chosen checkpoint.
function expectedBytes(planned: CheckpointInfo[], opts: RestoreCommandOptions): number {
  if (opts.checkpoint !== undefined)
    return planned.flatMap((i) => partsOf(i, opts.partition)).reduce((n, p) => n + p.storedBytes, 0);
  const plan = planRestore(planned, opts.partition);
  let n = 0;
  for (const p of plan.partitions) {
    const id = p.candidates[0]?.id;
    const info = planned.find((i) => i.id === id);
    n += info?.partitions.find((x) => same(x, p))?.storedBytes ?? 0;
  }
  return n;
}

function partsOf(info: CheckpointInfo, wanted: TopicPartition[] | undefined): CheckpointInfo['partitions'] {
  return wanted === undefined ? info.partitions : info.partitions.filter((p) => wanted.some((w) => same(w, p)));
}

/** One line of restore progress for a terminal (exported for its test). */
export function describeProgress(e: RestoreProgressEvent): string {
  const tp = formatTopicPartition(e);
  const secs = e.elapsedMs / 1000;
  if (e.phase === 'failed')
    return `${tp}: abandoned ${e.checkpointId} after ${e.recordsRestored} of ${e.recordsTotal} records (nothing of it is visible)`;
  const rate = secs > 0 ? Math.round(e.recordsRestored / secs) : e.recordsRestored;
  const what = `${e.recordsRestored} of ${e.recordsTotal} records, ${formatBytes(e.bytesRestored)} of ${formatBytes(e.bytesTotal)}`;
  return e.phase === 'done'
    ? `${tp}: ready: ${what} in ${secs.toFixed(1)} s (${rate} records/s)`
    : `${tp}: ${what} (${rate} records/s)`;
}
