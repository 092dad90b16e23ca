// Restore streams into staging and swaps in at the end (issue 10): a restore
// that fails at the last chunk leaves the old state exactly as it was, a
// finished one survives a reopen, and a snapshot taken before still reads the
// state of its instant.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointCorruptError, StateStore, StorageError, type TopicPartition } from '../../src/index.js';
import type { RestoreProgressEvent } from '../../src/checkpoint/observer.js';
import { canMountTmpfs, smallFilesystem } from '../helpers/tmpfs.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, flipBit, onStagingApply, openRepo, openStore, rawState } from './support.js';

const TP: TopicPartition = { topic: 'staged', partition: 0 };
const OTHER: TopicPartition = { topic: 'staged', partition: 1 };
// Enough entries for several decoded chunks (1 MiB each): records stream
// into staging well before the segment's last bytes are checked.
const N = 40_000;

// Counts the records a store's restores apply to staging.
function countApplied(store: StateStore): { records: number } {
  const seen = { records: 0 };
  onStagingApply(store, (records) => {
    const list = [...records];
    seen.records += list.length;
    return list;
  });
  return seen;
}

describe('staged restore', () => {
  it('a corrupt last chunk: CheckpointCorruptError after records were staged, and the old state intact', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, N, 900, 'new');
    await fill(source, OTHER, 100, 50, 'new');
    const info = await checkpointNow(source, repo);
    const seg = info.partitions.find((p) => p.partition === 0)!;
    flipBit(path.join(repo.storage.location, info.id, seg.file), seg.storedBytes - 20);

    const target = await openStore();
    await fill(target, TP, 500, 7, 'old');
    await fill(target, OTHER, 20, 3, 'old');
    const before = [await rawState(target, TP), await rawState(target, OTHER)];
    const applied = countApplied(target);
    await expect(repo.restore(target, { id: info.id, partitions: [OTHER, TP] })).rejects.toBeInstanceOf(
      CheckpointCorruptError,
    );
    expect(applied.records).toBeGreaterThan(N / 4); // streamed, not held back
    expect([await rawState(target, TP), await rawState(target, OTHER)]).toEqual(before);
    // The staging left behind does not leak into the next restore.
    const good = await checkpointNow(source, repo);
    await repo.restore(target, { id: good.id });
    expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
    expect(await rawState(target, OTHER)).toEqual(await rawState(source, OTHER));
  });

  // Real: a 4 MiB tmpfs fills up while the staging grows. Needs root (as here and in CI).
  it.skipIf(!canMountTmpfs && process.env.CI === undefined)(
    'a disk that fills up during staging: StorageError, the old state intact, and a restore works once there is room',
    async () => {
      const source = await openStore();
      const repo = openRepo();
      await fill(source, TP, 100_000, 900, 'new'); // ~7 MB of records: more than the 4 MiB filesystem holds
      const info = await checkpointNow(source, repo);
      const fsys = smallFilesystem('4m');
      const target = await StateStore.open({ path: path.join(fsys.dir, 'state'), sweepIntervalMs: 0 });
      try {
        await fill(target, TP, 300, 7, 'old');
        const before = await rawState(target, TP);
        const failure = await repo.restore(target, { id: info.id }).catch((err: unknown) => err);
        expect(failure).toBeInstanceOf(StorageError);
        expect(['EIO', 'ENOSPC']).toContain((failure as StorageError).syscallCode);
        expect(await rawState(target, TP)).toEqual(before);
        fsys.grow('64m');
        await repo.restore(target, { id: info.id });
        expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
      } finally {
        await target.close();
      }
    },
  );

  it('a restored partition survives a reopen, restore after restore (the live database alternates)', async () => {
    const source = await openStore();
    const repo = openRepo();
    const dir = path.join(tmpDir('staged'), 'state');
    for (const [round, tag] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const) {
      await fill(source, TP, 1000 + round, 10 * round, tag);
      const info = await checkpointNow(source, repo);
      const target = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
      await repo.restore(target, { id: info.id });
      await target.close();
      const reopened = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
      try {
        expect(await rawState(reopened, TP)).toEqual(await rawState(source, TP));
        expect(reopened.offset(TP.topic, TP.partition)).toBe(String(10 * round));
      } finally {
        await reopened.close();
      }
    }
    expect(fs.existsSync(dir)).toBe(true);
  });

  it('a snapshot taken before a restore reads the state of its instant', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, 300, 30, 'new');
    const info = await checkpointNow(source, repo);
    const target = await openStore();
    await fill(target, TP, 200, 2, 'old');
    const before = await rawState(target, TP);
    const snap = await target.snapshot();
    try {
      await repo.restore(target, { id: info.id });
      const during = [...snap.entries(TP)].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);
      expect({ offset: snap.offset(TP), entries: during }).toEqual(before);
    } finally {
      snap.release();
    }
    expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
  });

  it('reports progress per partition: streaming chunk by chunk, then done with every record and byte', async () => {
    const source = await openStore();
    await fill(source, TP, N, 40, 'new');
    const events: RestoreProgressEvent[] = [];
    const repo = openRepo(undefined, { observer: { restoreProgress: (e) => void events.push(e) } });
    const info = await checkpointNow(source, repo);
    const target = await openStore();
    await repo.restore(target, { id: info.id });
    const part = info.partitions[0]!;
    const streaming = events.filter((e) => e.phase === 'streaming');
    expect(streaming.length).toBeGreaterThan(1);
    for (let i = 1; i < streaming.length; i++)
      expect(streaming[i]!.recordsRestored).toBeGreaterThan(streaming[i - 1]!.recordsRestored);
    expect(events.at(-1)).toMatchObject({
      ...TP,
      checkpointId: info.id,
      phase: 'done',
      recordsRestored: part.entries,
      recordsTotal: part.entries,
      bytesRestored: part.rawBytes,
      bytesTotal: part.rawBytes,
    });
  });

  it('the in-memory backend stages and swaps the same way', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, 2000, 20, 'new');
    const info = await checkpointNow(source, repo);
    const seg = info.partitions[0]!;
    const target = await StateStore.open({ backend: 'memory', sweepIntervalMs: 0 });
    try {
      await fill(target, TP, 10, 1, 'old');
      const before = await rawState(target, TP);
      const broken = openRepo();
      const bad = await checkpointNow(source, broken);
      flipBit(path.join(broken.storage.location, bad.id, seg.file), seg.storedBytes - 5);
      await expect(broken.restore(target, { id: bad.id })).rejects.toBeInstanceOf(CheckpointCorruptError);
      expect(await rawState(target, TP)).toEqual(before);
      await repo.restore(target, { id: info.id });
      expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
    } finally {
      await target.close();
    }
  });
});
