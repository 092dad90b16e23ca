import type { CheckpointInfo, VerifyResult } from '../../checkpoint/index.js';
import { CheckpointNotFoundError } from '../../errors/index.js';
import { formatTopicPartition } from '../../util/topic-partition.js';
import { lacksKey, openCheckpoints, type CheckpointDirOptions } from '../checkpoints.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { formatBytes, plural, type Output } from '../io.js';
import { startProgress } from '../progress.js';

export interface VerifyOptions extends CheckpointDirOptions {
  json?: boolean;
}

/** What verify concluded about one checkpoint. `no-key`: encrypted with a key that was not given. */
type VerifyStatus = 'valid' | 'corrupt' | 'incomplete' | 'unsupported' | 'no-key';

interface VerifyEntry {
  id: string;
  status: VerifyStatus;
  reason: string | null;
  /** False when it was not re-read: incomplete (not named), or no key. */
  checked: boolean;
  quarantined: boolean;
  bytesChecked: number;
  partitions: Array<{ topic: string; partition: number; file: string; ok: boolean; reason: string | null }>;
}

/**
 * `tidemark verify`: re-reads every byte of every checkpoint (or one) and
 * checks it as a restore would, without quarantining anything.
 */
export async function verifyCommand(id: string | undefined, opts: VerifyOptions, out: Output): Promise<number> {
  const { repo, storage } = openCheckpoints(opts, out.io.env);
  try {
    const infos = id === undefined ? await repo.list() : [await repo.get(id)];
    const quarantinedCount = id === undefined ? (await repo.listQuarantined()).length : 0;
    const toRead = infos.filter((i) => i.status === 'valid' && !lacksKey(i));
    const progress = startProgress(
      out.io,
      'verify',
      toRead.reduce((n, i) => n + i.storedBytes, 0),
      'bytes',
    );
    storage.onRead = (n) => progress.advance(n);
    const entries: VerifyEntry[] = [];
    try {
      for (const info of infos) entries.push(await verifyOne(info, id !== undefined, () => repo.verify(info.id)));
    } finally {
      progress.stop();
    }

    const invalid = entries.filter(
      (e) => e.status === 'corrupt' || e.status === 'unsupported' || (e.status === 'incomplete' && e.checked),
    );
    const noKey = entries.filter((e) => e.status === 'no-key');
    const valid = entries.filter((e) => e.status === 'valid');
    const code = invalid.length > 0 ? ExitCode.INVALID : noKey.length > 0 ? ExitCode.KEY : ExitCode.OK;
    if (opts.json) {
      await out.json({
        ok: code === ExitCode.OK,
        checked: entries.filter((e) => e.checked).length,
        valid: valid.length,
        invalid: invalid.length,
        noKey: noKey.length,
        quarantinedNotChecked: quarantinedCount,
        results: entries,
      });
    } else {
      if (entries.length === 0) await out.line('No checkpoints to verify.');
      for (const e of entries) await out.lines(describe(e));
      const parts = [
        `${plural(entries.filter((e) => e.checked).length, 'checkpoint')} checked`,
        `${valid.length} valid`,
        `${invalid.length} invalid`,
      ];
      if (noKey.length > 0) parts.push(`${noKey.length} not readable without their key`);
      if (quarantinedCount > 0) parts.push(`${quarantinedCount} in quarantine not checked`);
      await out.line(`Summary: ${parts.join(', ')}.`);
    }
    if (invalid.length > 0)
      out.note(`tidemark: ${plural(invalid.length, 'invalid checkpoint')}: ${invalid.map((e) => e.id).join(', ')}`);
    else if (noKey.length > 0)
      out.note(
        `tidemark: ${plural(noKey.length, 'checkpoint')} could not be verified without the encryption key (--key-file or TIDEMARK_CHECKPOINT_KEY)`,
      );
    return code;
  } finally {
    await repo.close();
  }
}

async function verifyOne(
  info: CheckpointInfo,
  named: boolean,
  verify: () => Promise<VerifyResult[]>,
): Promise<VerifyEntry> {
  const entry: VerifyEntry = {
    id: info.id,
    status: info.status,
    reason: info.reason ?? null,
    checked: info.status !== 'incomplete' || named,
    quarantined: info.quarantined,
    bytesChecked: 0,
    partitions: info.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      file: p.file,
      ok: info.status === 'valid',
      reason: null,
    })),
  };
  if (info.status !== 'valid') return entry;
  if (lacksKey(info)) {
    const enc = info.encryption as { keyFingerprint: string };
    entry.status = 'no-key';
    entry.reason = `encrypted with the key whose fingerprint is ${enc.keyFingerprint}, which was not given`;
    entry.checked = false;
    for (const p of entry.partitions) p.ok = false;
    return entry;
  }
  let result: VerifyResult | undefined;
  try {
    [result] = await verify();
  } catch (err) {
    if (err instanceof CheckpointNotFoundError && !named) {
      entry.status = 'incomplete';
      entry.reason = 'removed while being verified (by retention elsewhere)';
      entry.checked = false;
      return entry;
    }
    throw err;
  }
  if (result === undefined) throw new CliError(ExitCode.FAILURE, `verify of ${info.id} returned nothing`);
  entry.status = result.status;
  entry.reason = result.reason ?? null;
  entry.bytesChecked = info.storedBytes;
  entry.partitions = result.partitions.map((p) => ({
    topic: p.topic,
    partition: p.partition,
    file: p.file,
    ok: p.ok,
    reason: p.reason ?? null,
  }));
  return entry;
}

function describe(e: VerifyEntry): string[] {
  const where = e.quarantined ? ' (quarantined)' : '';
  if (e.status === 'valid') {
    return [
      `${e.id}${where}  valid  (${plural(e.partitions.length, 'partition')}, ${formatBytes(e.bytesChecked)} re-read)`,
    ];
  }
  if (e.status === 'incomplete' && !e.checked) return [`${e.id}  incomplete, not checked: ${e.reason ?? ''}`];
  if (e.status === 'no-key') return [`${e.id}${where}  NOT CHECKED: ${e.reason ?? ''}`];
  const lines = [`${e.id}${where}  ${e.status.toUpperCase()}: ${e.reason ?? ''}`];
  for (const p of e.partitions) if (p.reason !== null) lines.push(`    ${formatTopicPartition(p)}: ${p.reason}`);
  return lines;
}
