import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CheckpointRepository,
  ForwardingStorage,
  LocalDirectoryStorage,
  QUARANTINE_NOTE,
  QUARANTINE_PREFIX,
  type CheckpointInfo,
  type CheckpointObserver,
  type CheckpointStorage,
  type ManifestPartition,
  type ReadChunksOptions,
} from '../checkpoint/index.js';
import { isS3Url, s3StorageFromUrl } from '../checkpoint/s3-url.js';
import { isDelta } from '../checkpoint/manifest.js';
import { ConfigError } from '../errors/config-error.js';
import { CliError, ExitCode } from './exit-codes.js';
import { loadKeys } from './keys.js';

/**
 * A storage that reports the bytes read through `readChunks` (every segment
 * read of verify, restore and export goes there), for progress bars.
 */
export class CountingStorage extends ForwardingStorage {
  onRead: (bytes: number) => void = () => undefined;

  override async *readChunks(key: string, options?: ReadChunksOptions): AsyncIterable<Buffer> {
    for await (const chunk of this.inner.readChunks(key, options)) {
      this.onRead(chunk.length);
      yield chunk;
    }
  }
}

/** Options every checkpoint-reading command takes. */
export interface CheckpointDirOptions {
  checkpoints: string;
  keyFile?: string[];
}

/**
 * A repository over a checkpoint directory that must exist, or over
 * `s3://bucket/prefix` (configured from AWS_ENDPOINT_URL, AWS_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in `awsEnv`, by default `env`);
 * keys from --key-file and the environment.
 */
export function openCheckpoints(
  opts: CheckpointDirOptions,
  env: NodeJS.ProcessEnv,
  awsEnv: NodeJS.ProcessEnv = env,
  observer?: CheckpointObserver,
): { repo: CheckpointRepository; storage: CountingStorage; dir: string } {
  let inner: CheckpointStorage;
  let dir: string;
  if (isS3Url(opts.checkpoints)) {
    try {
      inner = s3StorageFromUrl(opts.checkpoints, awsEnv);
    } catch (err) {
      if (err instanceof ConfigError)
        throw new CliError(ExitCode.USAGE, `--checkpoints ${opts.checkpoints}: ${err.message}`);
      throw err;
    }
    dir = inner.location.replace(/\/$/, '');
  } else {
    dir = path.resolve(opts.checkpoints);
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      throw new CliError(ExitCode.NOT_FOUND, `checkpoint directory ${dir} does not exist`);
    }
    if (!st.isDirectory()) throw new CliError(ExitCode.NOT_FOUND, `checkpoint directory ${dir} is not a directory`);
    inner = new LocalDirectoryStorage({ path: dir });
  }
  const keys = loadKeys(opts.keyFile ?? [], env);
  const storage = new CountingStorage(inner);
  // Every key goes in as a reading key: the CLI never writes a checkpoint.
  const repo = new CheckpointRepository({
    storage,
    previousKeys: keys,
    ...(observer === undefined ? {} : { observer }),
  });
  return { repo, storage, dir };
}

/** Why and when a checkpoint was quarantined, from its note (null when there is none or it is unreadable). */
export interface QuarantineNote {
  reason: string | null;
  at: string | null;
  host: string | null;
  pid: number | null;
}

export async function readQuarantineNote(storage: CheckpointStorage, id: string): Promise<QuarantineNote | null> {
  try {
    const note = JSON.parse(
      (await storage.read(`${QUARANTINE_PREFIX}${id}/${QUARANTINE_NOTE}`, { maxBytes: 1 << 20 })).toString('utf8'),
    ) as Record<string, unknown>;
    return {
      reason: typeof note.reason === 'string' ? note.reason : null,
      at: typeof note.at === 'string' ? note.at : null,
      host: typeof note.host === 'string' ? note.host : null,
      pid: typeof note.pid === 'number' ? note.pid : null,
    };
  } catch {
    return null;
  }
}

/** A checkpoint in `--json` output (docs/CLI.md, "Checkpoint object"). */
export interface CheckpointJson {
  id: string;
  createdAt: string;
  status: CheckpointInfo['status'];
  reason: string | null;
  quarantined: boolean;
  schemaVersion: number | null;
  encryption: { algorithm: string; keyFingerprint: string | null; keyAvailable: boolean } | null;
  writer: { host: string; pid: number } | null;
  entries: number;
  rawBytes: number;
  storedBytes: number;
  partitions: ManifestPartition[];
}

export function checkpointJson(info: CheckpointInfo): CheckpointJson {
  const enc = info.encryption;
  return {
    id: info.id,
    createdAt: info.createdAt.toISOString(),
    status: info.status,
    reason: info.reason ?? null,
    quarantined: info.quarantined,
    schemaVersion: info.manifest?.schemaVersion ?? null,
    encryption:
      enc === undefined
        ? null
        : {
            algorithm: enc.algorithm,
            keyFingerprint: enc.algorithm === 'none' ? null : enc.keyFingerprint,
            keyAvailable: enc.keyAvailable,
          },
    writer: info.manifest ? { host: info.manifest.writer.host, pid: info.manifest.writer.pid } : null,
    entries: info.entries,
    rawBytes: info.rawBytes,
    storedBytes: info.storedBytes,
    partitions: info.partitions.map(manifestPartition),
  };
}

/** A partition's manifest fields alone. */
export function manifestPartition(p: ManifestPartition): ManifestPartition {
  const { topic, partition, offset, entries, rawBytes, storedBytes, sha256, file } = p;
  // A delta says so (its base, depth and tombstones): its entries are what
  // changed since the base, not the partition's state.
  const delta = isDelta(p) ? { kind: p.kind, base: p.base, depth: p.depth, deletes: p.deletes } : {};
  return { topic, partition, offset, entries, rawBytes, storedBytes, sha256, file, ...delta };
}

/** True when an encrypted checkpoint cannot be read with the keys given. */
export function lacksKey(info: CheckpointInfo): boolean {
  return info.encryption !== undefined && !info.encryption.keyAvailable;
}
