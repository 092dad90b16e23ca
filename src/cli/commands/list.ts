import type { CheckpointInfo } from '../../checkpoint/index.js';
import { formatTopicPartition } from '../../util/topic-partition.js';
import {
  checkpointJson,
  openCheckpoints,
  readQuarantineNote,
  type CheckpointDirOptions,
  type QuarantineNote,
} from '../checkpoints.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, plural, table, type Output } from '../io.js';

export interface ListOptions extends CheckpointDirOptions {
  json?: boolean;
}

/** `tidemark list`: every checkpoint from its manifest, quarantined ones apart. */
export async function listCommand(opts: ListOptions, out: Output): Promise<number> {
  const { repo, storage, dir } = openCheckpoints(opts, out.io.env);
  try {
    const checkpoints = await repo.list();
    const quarantined = await repo.listQuarantined();
    const notes = new Map<string, QuarantineNote | null>();
    for (const q of quarantined) notes.set(q.id, await readQuarantineNote(storage, q.id));
    if (opts.json) {
      await out.json({
        location: dir,
        checkpoints: checkpoints.map(checkpointJson),
        quarantined: quarantined.map((q) => ({ ...checkpointJson(q), quarantine: notes.get(q.id) ?? null })),
      });
      return ExitCode.OK;
    }
    await out.line(
      `Checkpoints in ${dir}: ${checkpoints.length}${quarantined.length > 0 ? `, quarantined: ${quarantined.length}` : ''}`,
    );
    if (checkpoints.length === 0) await out.line('  (none)');
    for (const info of checkpoints) await out.lines(describeCheckpoint(info));
    if (quarantined.length > 0) {
      await out.line('');
      await out.line(`Quarantined (in ${dir}/quarantine, never restored from, never deleted by prune):`);
      for (const info of quarantined) {
        const note = notes.get(info.id);
        const by = `${note?.at ? ` at ${note.at}` : ''}${note?.host ? ` by ${note.host} pid ${note.pid ?? '?'}` : ''}`;
        await out.lines(describeCheckpoint(info, `quarantined${by}: ${note?.reason ?? info.reason ?? 'no note'}`));
      }
    }
    return ExitCode.OK;
  } finally {
    await repo.close();
  }
}

/** A checkpoint's header line and one line per partition. */
export function describeCheckpoint(info: CheckpointInfo, statusText?: string): string[] {
  const status = statusText ?? (info.reason === undefined ? info.status : `${info.status}: ${info.reason}`);
  const lines = [`  ${info.id}  ${info.createdAt.toISOString()}  ${status}`];
  if (info.manifest === undefined) {
    lines.push(`    ${formatBytes(info.storedBytes)} stored`);
    return lines;
  }
  const enc = info.encryption;
  const encText =
    enc === undefined || enc.algorithm === 'none'
      ? ''
      : `, encrypted (key ${enc.keyFingerprint}${enc.keyAvailable ? '' : ', not given'})`;
  lines.push(
    `    ${plural(info.partitions.length, 'partition')}, ${plural(info.entries, 'entry', 'entries')}, ` +
      `raw ${formatBytes(info.rawBytes)}, stored ${formatBytes(info.storedBytes)}${encText}`,
  );
  lines.push(
    ...table(
      info.partitions.map((p) => [
        formatTopicPartition(p),
        `offset ${p.offset ?? '(none)'}`,
        plural(p.entries, 'entry', 'entries'),
        `raw ${formatBytes(p.rawBytes)}`,
        `stored ${formatBytes(p.storedBytes)}`,
      ]),
      '      ',
    ),
  );
  return lines;
}
