// Where a checkpoint's objects live in a storage (docs/FORMAT.md, "Layout").
// Pure: names only, no I/O.
import { isCheckpointId } from './checkpoint-id.js';
import { MANIFEST_FILE } from './manifest.js';

/** Prefix under which quarantined checkpoints are kept: `quarantine/<id>/...`. */
export const QUARANTINE_PREFIX = 'quarantine/';
/** Object written beside a quarantined checkpoint's files, saying why and when. */
export const QUARANTINE_NOTE = 'quarantine-note';

/** The prefix a checkpoint's objects share: `<id>/` or `quarantine/<id>/`. */
export function checkpointPrefix(id: string, quarantined = false): string {
  return `${quarantined ? QUARANTINE_PREFIX : ''}${id}/`;
}

/** Key of one object (`file`: a segment's file name, the manifest, the note) of a checkpoint. */
export function objectKey(id: string, file: string, quarantined = false): string {
  return `${checkpointPrefix(id, quarantined)}${file}`;
}

/** Key of a checkpoint's manifest. */
export function manifestKey(id: string, quarantined = false): string {
  return objectKey(id, MANIFEST_FILE, quarantined);
}

/** Key of the note written beside a quarantined checkpoint. */
export function quarantineNoteKey(id: string): string {
  return objectKey(id, QUARANTINE_NOTE, true);
}

/** Where an object of a checkpoint goes when the checkpoint is quarantined. */
export function quarantinedKey(key: string): string {
  return `${QUARANTINE_PREFIX}${key}`;
}

/** True for the key of a manifest (of any checkpoint, quarantined or not). */
export function isManifestKey(key: string): boolean {
  return key.endsWith(`/${MANIFEST_FILE}`);
}

/**
 * Groups the keys listed under `prefix` by checkpoint id; keys that are not
 * `<prefix><id>/<name>` with a well-formed id are ignored.
 */
export function groupByCheckpoint<T extends { key: string }>(objects: Iterable<T>, prefix: string): Map<string, T[]> {
  const byId = new Map<string, T[]>();
  for (const o of objects) {
    if (!o.key.startsWith(prefix)) continue;
    const rest = o.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) continue;
    const id = rest.slice(0, slash);
    if (!isCheckpointId(id)) continue;
    let list = byId.get(id);
    if (list === undefined) byId.set(id, (list = []));
    list.push(o);
  }
  return byId;
}

/**
 * Keys in the order to move or remove them: the manifest first, so the
 * checkpoint stops being visible before any segment goes.
 */
export function orderForRemoval(keys: readonly string[]): string[] {
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

function rank(key: string): number {
  return isManifestKey(key) ? 0 : 1;
}
