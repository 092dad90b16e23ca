import type { CheckpointInfo, CheckpointRepository } from '../../checkpoint/index.js';
import { planRestore } from '../../checkpoint/restore-plan.js';
import { CheckpointCorruptError } from '../../errors/index.js';
import type { RawEntry } from '../../state/backend.js';
import { formatTopicPartition, type TopicPartition } from '../../util/topic-partition.js';
import { openCheckpoints, type CheckpointDirOptions } from '../checkpoints.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { plural, type Output } from '../io.js';
import { decodeEntry } from '../json-value.js';
import { startProgress, type Progress } from '../progress.js';
import { openStateForReading } from '../state-dir.js';

export interface ExportOptions {
  checkpoints?: string;
  checkpoint?: string;
  state?: string;
  partition?: TopicPartition[];
  keyFile?: string[];
  includeExpired?: boolean;
}

const same = (a: TopicPartition, b: TopicPartition): boolean => a.topic === b.topic && a.partition === b.partition;

/**
 * `tidemark export`: every entry as one JSON line on stdout. Each
 * partition's lines come from one source and are written only after that
 * partition has been read and verified in full, so stdout never holds a
 * partial partition.
 */
export async function exportCommand(opts: ExportOptions, out: Output): Promise<number> {
  if (opts.state !== undefined) return exportState(opts.state, opts, out);
  return exportCheckpoints({ ...opts, checkpoints: opts.checkpoints! }, out);
}

/** Writes one partition's entries; returns how many were written. */
async function writeEntries(
  tp: TopicPartition,
  entries: Iterable<RawEntry>,
  opts: ExportOptions,
  out: Output,
  progress: Progress,
): Promise<number> {
  const now = Date.now();
  let n = 0;
  let seen = 0;
  for (const raw of entries) {
    const { line, expiresAt } = decodeEntry(tp, raw);
    seen++;
    if (seen % 1024 === 0) progress.advance(1024);
    if (expiresAt !== 0 && now >= expiresAt && opts.includeExpired !== true) continue;
    await out.line(JSON.stringify(line));
    n++;
  }
  progress.advance(seen % 1024);
  return n;
}

async function exportCheckpoints(opts: ExportOptions & CheckpointDirOptions, out: Output): Promise<number> {
  const { repo } = openCheckpoints(opts, out.io.env);
  try {
    return opts.checkpoint !== undefined
      ? await exportOne(repo, opts.checkpoint, opts, out)
      : await exportNewest(repo, opts, out);
  } finally {
    await repo.close();
  }
}

// --checkpoint <id>: that checkpoint only, no fallback.
async function exportOne(repo: CheckpointRepository, id: string, opts: ExportOptions, out: Output): Promise<number> {
  const info = await repo.get(id);
  if (info.status !== 'valid')
    throw new CliError(ExitCode.INVALID, `checkpoint ${id} is ${info.status}: ${info.reason ?? ''}`);
  const tps = opts.partition ?? info.partitions;
  const absent = tps.filter((tp) => !info.partitions.some((p) => same(p, tp)));
  if (absent.length > 0)
    throw new CliError(
      ExitCode.NOT_FOUND,
      `checkpoint ${id} holds no partition ${absent.map(formatTopicPartition).join(', ')}`,
    );
  const parts = info.partitions.filter((p) => tps.some((tp) => same(p, tp)));
  const progress = startProgress(
    out.io,
    'export',
    parts.reduce((n, p) => n + p.entries, 0),
    'entries',
  );
  let total = 0;
  try {
    for (const p of parts) {
      let entries: Iterable<RawEntry>;
      try {
        ({ entries } = await repo.readEntries(id, p));
      } catch (err) {
        if (err instanceof CheckpointCorruptError) {
          throw new CliError(
            ExitCode.INVALID,
            `checkpoint ${id} is corrupt: ${err.reason}` +
              (total > 0 || parts.indexOf(p) > 0
                ? ` (stdout holds the partitions before ${formatTopicPartition(p)}, each complete)`
                : ''),
            { cause: err },
          );
        }
        throw err;
      }
      const n = await writeEntries(p, entries, opts, out, progress);
      total += n;
      progress.note(`exported ${formatTopicPartition(p)} from ${id}: ${plural(n, 'entry', 'entries')}`);
    }
  } finally {
    progress.stop();
  }
  return ExitCode.OK;
}

// Default: each partition from the checkpoint a restore (and the consumer)
// would take, planRestore's: the highest offset first, falling back past
// invalid ones as restore does (read-only: nothing is quarantined).
async function exportNewest(repo: CheckpointRepository, opts: ExportOptions, out: Output): Promise<number> {
  const listing = await repo.list();
  const plan = planRestore(listing, opts.partition);
  if (plan.partitions.length === 0)
    throw new CliError(ExitCode.NOT_FOUND, `no valid checkpoint in ${repo.storage.location}`);
  const byId = new Map(listing.map((i) => [i.id, i]));
  const failed = new Set<string>();
  const missing: TopicPartition[] = [];
  const entriesIn = (id: string | undefined, tp: TopicPartition): number =>
    byId.get(id ?? '')?.partitions.find((p) => same(p, tp))?.entries ?? 0;
  const estimate = plan.partitions.reduce((n, p) => n + entriesIn(p.candidates[0]?.id, p), 0);
  const progress = startProgress(out.io, 'export', estimate, 'entries');
  try {
    for (const p of plan.partitions) {
      const tp = { topic: p.topic, partition: p.partition };
      let done = false;
      for (const c of p.candidates) {
        const info = byId.get(c.id)!;
        if (failed.has(info.id)) continue;
        const entries = await readOrSkip(repo, info, tp, failed, progress);
        if (entries === undefined) continue;
        const n = await writeEntries(tp, entries, opts, out, progress);
        progress.note(
          `exported ${formatTopicPartition(tp)} from ${info.id} (offset ${c.offset}): ${plural(n, 'entry', 'entries')}`,
        );
        done = true;
        break;
      }
      if (!done) missing.push(tp);
    }
  } finally {
    progress.stop();
  }
  if (missing.length > 0) {
    out.note(`tidemark: no valid checkpoint holds ${missing.map(formatTopicPartition).join(', ')}`);
    return ExitCode.NOT_FOUND;
  }
  return ExitCode.OK;
}

async function readOrSkip(
  repo: CheckpointRepository,
  info: CheckpointInfo,
  tp: TopicPartition,
  failed: Set<string>,
  progress: Progress,
): Promise<Iterable<RawEntry> | undefined> {
  try {
    return (await repo.readEntries(info.id, tp)).entries;
  } catch (err) {
    if (!(err instanceof CheckpointCorruptError)) throw err;
    failed.add(info.id);
    progress.note(
      `skipped ${info.id}: ${err.reason} (left in place; "tidemark restore" or "tidemark prune" quarantines it)`,
    );
    return undefined;
  }
}

async function exportState(dir: string, opts: ExportOptions, out: Output): Promise<number> {
  const store = await openStateForReading(dir);
  try {
    const snap = await store.snapshot();
    try {
      const present = snap.partitions();
      const tps = opts.partition ?? present;
      const absent = tps.filter((tp) => !present.some((p) => same(p, tp)));
      if (absent.length > 0)
        throw new CliError(
          ExitCode.NOT_FOUND,
          `no state for ${absent.map(formatTopicPartition).join(', ')} in ${store.path}`,
        );
      const progress = startProgress(
        out.io,
        'export',
        tps.reduce((n, tp) => n + snap.entryCount(tp), 0),
        'entries',
      );
      try {
        for (const tp of tps) {
          const n = await writeEntries(tp, snap.entries(tp), opts, out, progress);
          progress.note(
            `exported ${formatTopicPartition(tp)} from ${store.path} (offset ${snap.offset(tp) ?? 'none'}): ${plural(n, 'entry', 'entries')}`,
          );
        }
      } finally {
        progress.stop();
      }
    } finally {
      snap.release();
    }
  } finally {
    await store.close();
  }
  return ExitCode.OK;
}
