// Partitions restored concurrently (issue 10) can find one checkpoint
// corrupt at the same time: it is moved to quarantine once, reported once.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointRepository, LocalDirectoryStorage, StateStore } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

describe('quarantine', () => {
  it('of one checkpoint asked twice at once moves it once and reports it once', async () => {
    const dir = tmpDir('qo');
    const store = await StateStore.open({ path: path.join(dir, 'state') });
    store.partition('t', 0).put('k', 1);
    store.partition('t', 1).put('k', 2);
    await store.commit([
      { topic: 't', partition: 0, offset: '1' },
      { topic: 't', partition: 1, offset: '1' },
    ]);
    const reports: Array<{ id: string; quarantined: boolean }> = [];
    const repo = new CheckpointRepository({
      storage: new LocalDirectoryStorage({ path: path.join(dir, 'ck') }),
      observer: { corruptCheckpoint: (e) => reports.push({ id: e.id, quarantined: e.quarantined }) },
    });
    const snap = await store.snapshot();
    const info = (await repo.write(snap))!;
    snap.release();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const [a, b] = await Promise.all([repo.quarantine(info.id, 'bad'), repo.quarantine(info.id, 'bad')]);
      expect([a, b]).toEqual([true, true]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(reports).toEqual([{ id: info.id, quarantined: true }]);
    expect(warnings.filter((w) => w.includes('could not quarantine'))).toEqual([]);
    expect((await repo.listQuarantined()).map((c) => c.id)).toEqual([info.id]);
    expect(await repo.list()).toEqual([]);
    await repo.close();
    await store.close();
  });
});
