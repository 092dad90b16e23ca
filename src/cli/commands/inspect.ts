import type { CheckpointInfo, ManifestPartition } from '../../checkpoint/index.js';
import { CheckpointCorruptError, CheckpointKeyError } from '../../errors/index.js';
import { formatTopicPartition, type TopicPartition } from '../../util/topic-partition.js';
import {
  checkpointJson,
  lacksKey,
  manifestPartition,
  openCheckpoints,
  readQuarantineNote,
  type CheckpointDirOptions,
} from '../checkpoints.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { formatBytes, plural, type Output } from '../io.js';
import { decodeEntry, type ExportLine } from '../json-value.js';

export interface InspectOptions extends CheckpointDirOptions {
  json?: boolean;
  sample: number;
  partition?: TopicPartition[];
}

interface PartitionDetail extends ManifestPartition {
  /** The first entries in key order, decoded; null when not read. */
  sample: ExportLine[] | null;
  /** Why the sample could not be read (the segment failed verification, no key). */
  error: string | null;
}

/** `tidemark inspect`: the manifest, per-partition details and a sample of decoded entries. */
export async function inspectCommand(id: string, opts: InspectOptions, out: Output): Promise<number> {
  const { repo, storage } = openCheckpoints(opts, out.io.env);
  try {
    const info = await repo.get(id);
    const wanted = opts.partition;
    if (wanted !== undefined && info.manifest !== undefined) {
      const absent = wanted.filter(
        (tp) => !info.partitions.some((p) => p.topic === tp.topic && p.partition === tp.partition),
      );
      if (absent.length > 0) {
        throw new CliError(
          ExitCode.NOT_FOUND,
          `checkpoint ${id} holds no partition ${absent.map(formatTopicPartition).join(', ')}`,
        );
      }
    }
    const parts = info.partitions.filter(
      (p) => wanted === undefined || wanted.some((tp) => tp.topic === p.topic && tp.partition === p.partition),
    );
    let code: number = info.status === 'valid' ? ExitCode.OK : ExitCode.INVALID;
    const details: PartitionDetail[] = [];
    for (const p of parts) {
      const d: PartitionDetail = { ...manifestPartition(p), sample: null, error: null };
      details.push(d);
      if (info.status !== 'valid' || opts.sample === 0) continue;
      if (lacksKey(info)) {
        d.error = 'encrypted: give its key (--key-file or TIDEMARK_CHECKPOINT_KEY) to see entries';
        if (code === ExitCode.OK) code = ExitCode.KEY;
        continue;
      }
      try {
        const { entries } = await repo.readEntries(info.id, p);
        d.sample = [];
        for (const raw of entries) {
          if (d.sample.length >= opts.sample) break;
          d.sample.push(decodeEntry(p, raw).line);
        }
      } catch (err) {
        if (err instanceof CheckpointCorruptError) {
          d.error = `corrupt: ${err.reason}`;
          code = ExitCode.INVALID;
        } else if (err instanceof CheckpointKeyError) {
          d.error = err.message;
          if (code === ExitCode.OK) code = ExitCode.KEY;
        } else throw err;
      }
    }
    const note = info.quarantined ? await readQuarantineNote(storage, info.id) : null;
    // The listing checks the manifest and sizes; a segment read for the sample may still fail.
    const failed = details.find((d) => d.error?.startsWith('corrupt: '));
    const status = failed === undefined ? info.status : 'corrupt';
    const reason =
      info.reason ??
      (failed === undefined ? null : `${formatTopicPartition(failed)}: ${failed.error!.slice('corrupt: '.length)}`);
    if (opts.json) {
      await out.json({
        status,
        reason,
        checkpoint: checkpointJson(info),
        quarantine: note,
        manifest: info.manifest ?? null,
        partitions: details,
      });
    } else {
      await out.lines(describe(info, status, reason, details, opts.sample, note?.reason ?? null));
    }
    if (code === ExitCode.INVALID) out.note(`tidemark: checkpoint ${info.id} is ${status}: ${reason ?? ''}`);
    return code;
  } finally {
    await repo.close();
  }
}

function describe(
  info: CheckpointInfo,
  status: string,
  reason: string | null,
  details: PartitionDetail[],
  sample: number,
  quarantineReason: string | null,
): string[] {
  const m = info.manifest;
  const lines = [`Checkpoint ${info.id}`];
  const row = (k: string, v: string): void => void lines.push(`  ${k.padEnd(12)}${v}`);
  row('status', reason === null ? status : `${status}: ${reason}`);
  if (info.quarantined) row('quarantined', quarantineReason ?? 'yes (no note)');
  row('created', info.createdAt.toISOString());
  if (m !== undefined) {
    row('format', `${m.format} version ${m.formatVersion}`);
    row('schema', `version ${m.schemaVersion}`);
    row('compression', `${m.compression.codec} level ${m.compression.level}`);
    const enc = info.encryption!;
    row(
      'encryption',
      enc.algorithm === 'none'
        ? 'none'
        : `${enc.algorithm}, key fingerprint ${enc.keyFingerprint} (${enc.keyAvailable ? 'key given' : 'key not given'})`,
    );
    row('writer', `${m.writer.host} pid ${m.writer.pid}`);
  }
  row(
    'size',
    `${plural(info.entries, 'entry', 'entries')}, raw ${formatBytes(info.rawBytes)}, stored ${formatBytes(info.storedBytes)}`,
  );
  if (m === undefined) return lines;
  lines.push(
    `  partitions  ${details.length === info.partitions.length ? info.partitions.length : `${details.length} of ${info.partitions.length}`}`,
  );
  for (const d of details) {
    lines.push(
      `    ${formatTopicPartition(d)}  offset ${d.offset ?? '(none)'}  ${plural(d.entries, 'entry', 'entries')}` +
        (d.kind === 'delta' ? `  (delta on ${d.base}, depth ${d.depth}, ${d.deletes ?? 0} deleted)` : ''),
    );
    lines.push(
      `      file ${d.file}, raw ${formatBytes(d.rawBytes)}, stored ${formatBytes(d.storedBytes)}, sha256 ${d.sha256}`,
    );
    if (d.error !== null) lines.push(`      entries not shown: ${d.error}`);
    else if (d.sample !== null) {
      lines.push(`      first ${Math.min(sample, d.entries)} of ${d.entries} entries (verified):`);
      for (const e of d.sample) {
        const scope = e.scope === '' ? '' : `[${e.scope}] `;
        const ttl = e.expiresAt === undefined ? '' : `  (expires ${e.expiresAt})`;
        lines.push(`        ${scope}${clip(JSON.stringify(e.key), 60)} = ${clip(JSON.stringify(e.value), 160)}${ttl}`);
      }
    }
  }
  return lines;
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 3)}...`;
}
