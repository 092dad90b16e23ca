import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeManifest, type Manifest } from '../../src/checkpoint/manifest.js';
import { SegmentEncoder } from '../../src/checkpoint/segment-codec.js';
import {
  CheckpointCorruptError,
  CheckpointFormatError,
  CheckpointNotFoundError,
  type CheckpointInfo,
  type CheckpointRepository,
  type StateStore,
} from '../../src/index.js';
import { QUARANTINE_PREFIX } from '../../src/checkpoint/repository.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, filesUnder, flipBit, openRepo, openStore, rawState } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };

interface Scenario {
  dir: string;
  store: StateStore;
  repo: CheckpointRepository;
  good: CheckpointInfo;
  bad: CheckpointInfo;
  goodState: Array<Awaited<ReturnType<typeof rawState>>>;
  /** A store with local state that a failed restore must leave exactly as it is. */
  target: StateStore;
  targetBefore: Array<Awaited<ReturnType<typeof rawState>>>;
}

async function scenario(key?: Buffer): Promise<Scenario> {
  const dir = tmpDir('ckbad');
  const store = await openStore();
  const repo = openRepo(dir, key ? { key } : {});
  await fill(store, A0, 300, 100);
  await fill(store, A1, 300, 100);
  const good = await checkpointNow(store, repo);
  const goodState = [await rawState(store, A0), await rawState(store, A1)];
  await fill(store, A0, 400, 200, 'v2');
  await fill(store, A1, 400, 200, 'v2');
  const bad = await checkpointNow(store, repo);
  const target = await openStore();
  await fill(target, A0, 3, 3, 'local');
  await fill(target, A1, 4, 4, 'local');
  const targetBefore = [await rawState(target, A0), await rawState(target, A1)];
  return { dir, store, repo, good, bad, goodState, target, targetBefore };
}

const seg = (s: Scenario, file = 'orders.1.seg') => path.join(s.dir, s.bad.id, file);
const manifest = (s: Scenario) => path.join(s.dir, s.bad.id, 'manifest');

function rewriteManifest(s: Scenario, edit: (m: Manifest) => void): void {
  const m = structuredClone(s.bad.manifest!);
  edit(m);
  fs.writeFileSync(manifest(s), encodeManifest(m));
}

type Damage = [name: string, damage: (s: Scenario) => void, reason: RegExp];

const damages: Damage[] = [
  ['a flipped bit at the start of a segment', (s) => flipBit(seg(s), 0), /orders\.1\.seg: segment sha256 mismatch/],
  [
    'a flipped bit in the middle of a segment',
    (s) => flipBit(seg(s), Math.floor(fs.statSync(seg(s)).size / 2), 5),
    /sha256 mismatch/,
  ],
  [
    'a flipped bit in the last byte of a segment',
    (s) => flipBit(seg(s), fs.statSync(seg(s)).size - 1, 7),
    /sha256 mismatch/,
  ],
  [
    'a flipped bit in the first segment',
    (s) => flipBit(seg(s, 'orders.0.seg'), 10, 3),
    /orders\.0\.seg: segment sha256 mismatch/,
  ],
  [
    'a truncated segment',
    (s) => fs.truncateSync(seg(s), fs.statSync(seg(s)).size - 10),
    /orders\.1\.seg is \d+ bytes, the manifest records \d+/,
  ],
  ['an extended segment', (s) => fs.appendFileSync(seg(s), Buffer.of(0)), /truncated or extended/],
  ['a missing segment', (s) => fs.rmSync(seg(s)), /segment orders\.1\.seg is missing/],
  ['a flipped bit at the start of the manifest', (s) => flipBit(manifest(s), 0), /manifest checksum mismatch/],
  [
    'a flipped bit in the middle of the manifest',
    (s) => flipBit(manifest(s), Math.floor(fs.statSync(manifest(s)).size / 2), 1),
    /manifest/,
  ],
  [
    'a flipped bit in the manifest checksum',
    (s) => flipBit(manifest(s), fs.statSync(manifest(s)).size - 5, 0),
    /manifest/,
  ],
  ['a truncated manifest', (s) => fs.truncateSync(manifest(s), 100), /manifest/],
  [
    'an unparsable manifest',
    (s) => fs.writeFileSync(manifest(s), 'this is not a manifest\n'),
    /manifest has no valid sha256 line/,
  ],
  ['an empty manifest', (s) => fs.writeFileSync(manifest(s), ''), /manifest is truncated/],
  [
    'a manifest whose checksum matches but whose figures lie (raw size)',
    (s) => rewriteManifest(s, (m) => (m.partitions[1]!.rawBytes += 1)),
    /decompresses to \d+ bytes, the manifest records/,
  ],
  [
    'a decompression bomb: a small segment that inflates far past the raw size recorded',
    (s) => {
      const enc = new SegmentEncoder({ level: 3 });
      const parts = [enc.push(Buffer.alloc(256 << 20))];
      const { tail, result } = enc.finish();
      parts.push(tail);
      fs.writeFileSync(seg(s), Buffer.concat(parts));
      rewriteManifest(s, (m) => {
        m.partitions[1]!.storedBytes = result.storedBytes;
        m.partitions[1]!.sha256 = result.sha256;
      });
    },
    /inflates past the \d+ raw bytes recorded in the manifest/,
  ],
];

async function expectUntouched(s: Scenario): Promise<void> {
  expect([await rawState(s.target, A0), await rawState(s.target, A1)]).toEqual(s.targetBefore);
}

describe('restore refuses damaged checkpoints, falls back, quarantines, reports', () => {
  it.each(damages)('%s', async (_, damage, reason) => {
    const s = await scenario();
    damage(s);
    const badFiles = filesUnder(path.join(s.dir, s.bad.id));
    const goodFiles = filesUnder(path.join(s.dir, s.good.id));

    // Explicitly asked for: a clear error, no partial restore, quarantined.
    const err = await s.repo.restore(s.target, { id: s.bad.id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointCorruptError);
    expect(err).toMatchObject({ code: 'ERR_TIDEMARK_CHECKPOINT_CORRUPT', checkpointId: s.bad.id });
    expect((err as CheckpointCorruptError).reason).toMatch(reason);
    await expectUntouched(s);
    // Renamed, never deleted: the same bytes under quarantine/, plus a note.
    const moved = filesUnder(path.join(s.dir, QUARANTINE_PREFIX, s.bad.id));
    expect(moved.filter((f) => !f.startsWith('quarantine-note'))).toEqual(badFiles);
    expect(fs.readFileSync(path.join(s.dir, QUARANTINE_PREFIX, s.bad.id, 'quarantine-note'), 'utf8')).toMatch(
      /"reason"/,
    );
    expect(fs.existsSync(path.join(s.dir, s.bad.id))).toBe(false);
    const q = await s.repo.listQuarantined();
    expect(q.map((c) => [c.id, c.quarantined])).toEqual([[s.bad.id, true]]);
    // Quarantined ones are not offered again.
    await expect(s.repo.restore(s.target, { id: s.bad.id })).rejects.toBeInstanceOf(CheckpointNotFoundError);
    // The earlier checkpoint is intact and is what a plain restore now takes.
    expect(filesUnder(path.join(s.dir, s.good.id))).toEqual(goodFiles);
    const r = await s.repo.restore(s.target);
    expect(r.restored.map((x) => x.checkpointId)).toEqual([s.good.id, s.good.id]);
    expect([await rawState(s.target, A0), await rawState(s.target, A1)]).toEqual(s.goodState);
  });

  it.each(damages)('newest-first restore falls past %s', async (_, damage, reason) => {
    const s = await scenario();
    damage(s);
    const r = await s.repo.restore(s.target);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]!.id).toBe(s.bad.id);
    expect(r.skipped[0]!.reason).toMatch(reason);
    expect(r.skipped[0]!.reason).toMatch(/\(quarantined\)$/);
    expect(r.restored.map((x) => `${x.partition}@${x.offset}:${x.checkpointId}`)).toEqual([
      `0@100:${s.good.id}`,
      `1@100:${s.good.id}`,
    ]);
    expect([await rawState(s.target, A0), await rawState(s.target, A1)]).toEqual(s.goodState);
    expect((await s.repo.list()).map((c) => c.id)).toEqual([s.good.id]);
  });

  it('per-partition restore falls back for the damaged partition only as far as needed', async () => {
    const s = await scenario();
    fs.rmSync(seg(s));
    const r = await s.repo.restore(s.target, { partitions: [A1] });
    expect(r.skipped.map((x) => x.id)).toEqual([s.bad.id]);
    expect(r.restored.map((x) => x.checkpointId)).toEqual([s.good.id]);
    expect(await rawState(s.target, A1)).toEqual(s.goodState[1]);
    expect(await rawState(s.target, A0)).toEqual(s.targetBefore[0]); // not asked for
  });

  it('when every checkpoint is damaged: nothing restored, everything reported and quarantined, state untouched', async () => {
    const s = await scenario();
    flipBit(seg(s), 3);
    flipBit(path.join(s.dir, s.good.id, 'orders.0.seg'), 3);
    const r = await s.repo.restore(s.target);
    expect(r.restored).toEqual([]);
    expect(r.skipped.map((x) => x.id)).toEqual([s.bad.id, s.good.id]);
    await expectUntouched(s);
    const r2 = await s.repo.restore(s.target, { partitions: [A0, A1] });
    expect(r2.missing).toEqual([A0, A1]);
    expect((await s.repo.listQuarantined()).length).toBe(2);
  });

  it('list flags damage it can see from manifests and sizes; verify finds the rest by reading every byte', async () => {
    const s = await scenario();
    flipBit(seg(s), 20);
    expect((await s.repo.list())[0]).toMatchObject({ id: s.bad.id, status: 'valid' }); // sizes still match
    const [v] = await s.repo.verify(s.bad.id);
    expect(v).toMatchObject({ status: 'corrupt', reason: 'orders.1.seg: segment sha256 mismatch' });
    expect(v!.partitions.map((p) => p.ok)).toEqual([true, false]);
    expect(fs.existsSync(seg(s))).toBe(true); // verify only reports
    fs.truncateSync(seg(s), 5);
    expect((await s.repo.list())[0]).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/is 5 bytes/) });
  });

  it('an encrypted segment with a flipped bit, in the nonce, the ciphertext or the tag', async () => {
    for (const where of ['nonce', 'middle', 'tag'] as const) {
      const s = await scenario(randomBytes(32));
      const size = fs.statSync(seg(s)).size;
      flipBit(seg(s), where === 'nonce' ? 2 : where === 'tag' ? size - 3 : Math.floor(size / 2));
      const r = await s.repo.restore(s.target);
      expect(r.skipped[0]!.reason, where).toMatch(/sha256 mismatch/);
      expect([await rawState(s.target, A0), await rawState(s.target, A1)]).toEqual(s.goodState);
    }
  });

  it("an encrypted segment swapped with another partition's (checksums fixed up) fails authentication", async () => {
    const key = randomBytes(32);
    const s = await scenario(key);
    // Give partition 1 the bytes of partition 0, with a manifest that agrees.
    fs.copyFileSync(seg(s, 'orders.0.seg'), seg(s));
    rewriteManifest(s, (m) => {
      const p0 = m.partitions[0]!;
      Object.assign(m.partitions[1]!, {
        storedBytes: p0.storedBytes,
        sha256: p0.sha256,
        rawBytes: p0.rawBytes,
        entries: p0.entries,
      });
    });
    const err = await s.repo.restore(s.target, { id: s.bad.id }).catch((e: unknown) => e);
    expect((err as CheckpointCorruptError).reason).toMatch(/authentication tag does not match/);
    await expectUntouched(s);
  });

  it('a missing manifest is an incomplete checkpoint: listed as such, passed over, not quarantined', async () => {
    const s = await scenario();
    fs.rmSync(manifest(s));
    const [first] = await s.repo.list();
    expect(first).toMatchObject({ id: s.bad.id, status: 'incomplete', partitions: [] });
    const r = await s.repo.restore(s.target);
    expect(r.skipped).toEqual([]);
    expect(r.restored[0]!.checkpointId).toBe(s.good.id);
    expect(fs.existsSync(path.join(s.dir, s.bad.id))).toBe(true);
    await expect(s.repo.restore(s.target, { id: s.bad.id })).rejects.toThrow(/incomplete/);
  });

  it('a newer format version is refused with a clear error and left untouched; automatic restore passes over it', async () => {
    const s = await scenario();
    const m = { ...structuredClone(s.bad.manifest!), formatVersion: 3 };
    const body = Buffer.from(`${JSON.stringify(m)}\n`);
    fs.writeFileSync(
      manifest(s),
      Buffer.concat([body, Buffer.from(`sha256:${createHash('sha256').update(body).digest('hex')}\n`)]),
    );
    const files = filesUnder(path.join(s.dir, s.bad.id));
    expect((await s.repo.list())[0]).toMatchObject({ id: s.bad.id, status: 'unsupported' });
    const err = await s.repo.restore(s.target, { id: s.bad.id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err).toMatchObject({ formatVersion: 3, supportedVersion: 2 });
    await expectUntouched(s);
    const r = await s.repo.restore(s.target);
    expect(r.skipped).toEqual([
      { id: s.bad.id, reason: expect.stringMatching(/format version 3.*\(left in place\)$/) },
    ]);
    expect(r.restored[0]!.checkpointId).toBe(s.good.id);
    expect(filesUnder(path.join(s.dir, s.bad.id))).toEqual(files);
    await expect(s.repo.readEntries(s.bad.id, A0)).rejects.toBeInstanceOf(CheckpointFormatError);
  });

  it('a segment removed while being read (retention elsewhere) is passed over without quarantine', async () => {
    const s = await scenario();
    // Simulate the other process: manifest first, then the segments, as retention does.
    const storage = s.repo.storage;
    const origRead = storage.readChunks.bind(storage);
    let removed = false;
    storage.readChunks = (key, options) => {
      if (!removed && key.startsWith(s.bad.id)) {
        removed = true;
        fs.rmSync(path.join(s.dir, s.bad.id), { recursive: true });
      }
      return origRead(key, options);
    };
    const r = await s.repo.restore(s.target);
    expect(r.skipped).toEqual([{ id: s.bad.id, reason: expect.stringMatching(/removed while being read/) }]);
    expect(r.restored[0]!.checkpointId).toBe(s.good.id);
    expect(await s.repo.listQuarantined()).toEqual([]);
  });
});
