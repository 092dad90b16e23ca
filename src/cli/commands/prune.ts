import type { RetentionPolicy } from '../../checkpoint/index.js';
import { openCheckpoints, type CheckpointDirOptions } from '../checkpoints.js';
import { ExitCode } from '../exit-codes.js';
import { plural, type Output } from '../io.js';

export interface PruneOptions extends CheckpointDirOptions {
  keep: number;
  maxAge?: number;
  incompleteAfter?: number;
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `tidemark prune`: the repository's retention pass (the same rules the
 * coordinator applies): old checkpoints deleted, stale incomplete ones
 * removed, corrupt ones quarantined, temp-file debris cleaned.
 */
export async function pruneCommand(opts: PruneOptions, out: Output): Promise<number> {
  const { repo } = openCheckpoints({ ...opts, keyFile: [] }, {}, out.io.env);
  try {
    const policy: RetentionPolicy = { keepLast: opts.keep };
    if (opts.maxAge !== undefined) policy.maxAgeMs = opts.maxAge;
    if (opts.incompleteAfter !== undefined) policy.incompleteAfterMs = opts.incompleteAfter;
    // A dry run decides with the same rules and reader markers, and changes nothing.
    const result = await repo.prune(policy, { dryRun: opts.dryRun === true });
    if (opts.json) {
      await out.json({ dryRun: opts.dryRun === true, ...result });
      return ExitCode.OK;
    }
    const verb = opts.dryRun ? 'would ' : '';
    for (const id of result.deleted) await out.line(`${verb}delete ${id}`);
    for (const id of result.deletedIncomplete) await out.line(`${verb}delete ${id} (incomplete)`);
    for (const id of result.quarantined) await out.line(`${verb}quarantine ${id} (corrupt)`);
    for (const k of result.kept) await out.line(`keep ${k.id}: ${k.why}`);
    for (const c of result.cleaned) await out.line(`removed debris ${c}`);
    await out.line(
      `${opts.dryRun ? 'Dry run: would delete' : 'Deleted'} ${plural(result.deleted.length + result.deletedIncomplete.length, 'checkpoint')}, ` +
        `${opts.dryRun ? 'quarantine' : 'quarantined'} ${result.quarantined.length}, kept ${result.kept.length}.`,
    );
    return ExitCode.OK;
  } finally {
    await repo.close();
  }
}
