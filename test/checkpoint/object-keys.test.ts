// The object-key layout of checkpoints, without I/O.
import { describe, expect, it } from 'vitest';
import {
  checkpointPrefix,
  groupByCheckpoint,
  isManifestKey,
  manifestKey,
  objectKey,
  orderForRemoval,
  QUARANTINE_PREFIX,
  quarantinedKey,
  quarantineNoteKey,
} from '../../src/checkpoint/object-keys.js';

const ID = '20260101T000000000Z-0000000000000001';
const ID2 = '20260101T000100000Z-0000000000000002';

describe('object keys', () => {
  it('places objects under <id>/ and quarantine/<id>/', () => {
    expect(checkpointPrefix(ID)).toBe(`${ID}/`);
    expect(checkpointPrefix(ID, true)).toBe(`quarantine/${ID}/`);
    expect(objectKey(ID, 't-0.seg')).toBe(`${ID}/t-0.seg`);
    expect(objectKey(ID, 't-0.seg', true)).toBe(`quarantine/${ID}/t-0.seg`);
    expect(manifestKey(ID)).toBe(`${ID}/manifest`);
    expect(quarantineNoteKey(ID)).toBe(`quarantine/${ID}/quarantine-note`);
    expect(quarantinedKey(`${ID}/x`)).toBe(`${QUARANTINE_PREFIX}${ID}/x`);
  });

  it('recognises manifests only as whole names', () => {
    expect(isManifestKey(`${ID}/manifest`)).toBe(true);
    expect(isManifestKey(`quarantine/${ID}/manifest`)).toBe(true);
    expect(isManifestKey(`${ID}/not-a-manifest`)).toBe(false);
    expect(isManifestKey('manifest')).toBe(false);
  });

  it('groups listed keys by well-formed checkpoint id, ignoring everything else', () => {
    const keys = [
      `${ID}/manifest`,
      `${ID}/t-0.seg`,
      `${ID2}/t-1.seg`,
      'readers/abc',
      'not-an-id/manifest',
      'loose-file',
      `quarantine/${ID}/manifest`,
    ].map((key) => ({ key }));
    const top = groupByCheckpoint(keys, '');
    expect([...top.keys()]).toEqual([ID, ID2]);
    expect(top.get(ID)!.map((o) => o.key)).toEqual([`${ID}/manifest`, `${ID}/t-0.seg`]);
    const q = groupByCheckpoint(keys, QUARANTINE_PREFIX);
    expect([...q.keys()]).toEqual([ID]);
    expect(q.get(ID)!.map((o) => o.key)).toEqual([`quarantine/${ID}/manifest`]);
  });

  it('orders the manifest first for a move or removal, the rest as given', () => {
    expect(orderForRemoval([`${ID}/a.seg`, `${ID}/manifest`, `${ID}/b.seg`])).toEqual([
      `${ID}/manifest`,
      `${ID}/a.seg`,
      `${ID}/b.seg`,
    ]);
  });
});
