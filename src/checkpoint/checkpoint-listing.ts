// Listing checkpoints: what is there, from manifests and object sizes.
import { CheckpointCorruptError } from '../errors/checkpoint-corrupt-error.js';
import { CheckpointFormatError } from '../errors/checkpoint-format-error.js';
import { CheckpointNotFoundError } from '../errors/checkpoint-not-found-error.js';
import { isErrno } from '../util/fs.js';
import { checkpointTime, isCheckpointId } from './checkpoint-id.js';
import type { CheckpointInfo } from './checkpoint-types.js';
import { decodeManifest, MANIFEST_FILE, MAX_MANIFEST_BYTES, type Manifest } from './manifest.js';
import { checkpointPrefix, groupByCheckpoint, QUARANTINE_PREFIX } from './object-keys.js';
import { listObjects, storageError, type RepositoryContext } from './repository-context.js';
import type { StoredObject } from './storage.js';

/** Every checkpoint under `prefix` ('' or the quarantine prefix), newest first. */
export async function listCheckpoints(ctx: RepositoryContext, prefix: string): Promise<CheckpointInfo[]> {
  const byId = groupByCheckpoint(await listObjects(ctx, prefix), prefix);
  const out: CheckpointInfo[] = [];
  for (const [id, objects] of byId) {
    const info = await describe(ctx, id, objects, prefix);
    if (info !== undefined) out.push(info);
  }
  return out.sort((a, b) => (a.id < b.id ? 1 : -1));
}

/** One checkpoint (also looked for in quarantine). @throws CheckpointNotFoundError */
export async function getCheckpoint(ctx: RepositoryContext, id: string): Promise<CheckpointInfo> {
  if (!isCheckpointId(id))
    throw new CheckpointNotFoundError(
      `${JSON.stringify(id)} is not a checkpoint id (expected e.g. 20261122T193000123Z-0123456789abcdef)`,
      String(id),
    );
  for (const prefix of ['', QUARANTINE_PREFIX]) {
    const objects = await listObjects(ctx, `${prefix}${id}/`);
    if (objects.length === 0) continue;
    const info = await describe(ctx, id, objects, prefix);
    if (info !== undefined) return info;
  }
  throw new CheckpointNotFoundError(`no checkpoint ${id} in ${ctx.storage.location}`, id);
}

async function describe(
  ctx: RepositoryContext,
  id: string,
  objects: StoredObject[],
  prefix: string,
): Promise<CheckpointInfo | undefined> {
  const quarantined = prefix === QUARANTINE_PREFIX;
  const base = checkpointPrefix(id, quarantined);
  const byName = new Map(objects.filter((o) => o.key.startsWith(base)).map((o) => [o.key.slice(base.length), o]));
  const storedBytes = [...byName.values()].reduce((n, o) => n + o.size, 0);
  const bare: CheckpointInfo = {
    id,
    createdAt: new Date(checkpointTime(id)),
    status: 'incomplete',
    quarantined,
    partitions: [],
    entries: 0,
    rawBytes: 0,
    storedBytes,
  };
  const manifestObject = byName.get(MANIFEST_FILE);
  if (manifestObject === undefined) {
    return {
      ...bare,
      reason: quarantined ? 'no manifest' : 'no manifest: still being written, or its write crashed or failed',
    };
  }
  if (manifestObject.size > MAX_MANIFEST_BYTES)
    return { ...bare, status: 'corrupt', reason: `manifest is ${manifestObject.size} bytes, too large to be one` };
  let manifest: Manifest;
  try {
    manifest = decodeManifest(id, await ctx.storage.read(manifestObject.key, { maxBytes: MAX_MANIFEST_BYTES }));
  } catch (err) {
    if (err instanceof CheckpointCorruptError) return { ...bare, status: 'corrupt', reason: err.reason };
    if (err instanceof CheckpointFormatError) return { ...bare, status: 'unsupported', reason: err.message };
    if (isErrno(err, 'ENOENT')) return undefined; // removed meanwhile
    throw storageError(`cannot read the manifest of checkpoint ${id}`, err);
  }
  const info = infoFromManifest(ctx, manifest, quarantined, storedBytes);
  for (const p of manifest.partitions) {
    const o = byName.get(p.file);
    const problem =
      o === undefined
        ? `segment ${p.file} is missing`
        : o.size !== p.storedBytes
          ? `segment ${p.file} is ${o.size} bytes, the manifest records ${p.storedBytes} (truncated or extended)`
          : undefined;
    if (problem !== undefined) {
      info.status = 'corrupt';
      info.reason = problem;
      break;
    }
  }
  return info;
}

/** A valid checkpoint's listing entry, from its manifest. */
export function infoFromManifest(
  ctx: Pick<RepositoryContext, 'keys'>,
  manifest: Manifest,
  quarantined: boolean,
  storedBytes: number,
): CheckpointInfo {
  const partitions = manifest.partitions.map((p) => ({ ...p }));
  return {
    id: manifest.id,
    createdAt: new Date(manifest.createdAt),
    status: 'valid',
    quarantined,
    partitions,
    entries: partitions.reduce((n, p) => n + p.entries, 0),
    rawBytes: partitions.reduce((n, p) => n + p.rawBytes, 0),
    storedBytes,
    manifest,
    encryption: {
      ...manifest.encryption,
      keyAvailable: manifest.encryption.algorithm === 'none' || ctx.keys.has(manifest.encryption.keyFingerprint),
    },
  };
}
