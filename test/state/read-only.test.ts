import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, StateLockedError, StateStore, StorageError, StoreReadOnlyError } from '../../src/index.js';
import { LOCK_FILE } from '../../src/state/dir-lock.js';
import { ManualClock } from '../../src/util/clock.js';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';

async function seed(dir: string, clock?: ManualClock, schemaVersion = 1): Promise<void> {
  const store = await StateStore.open({ path: dir, schemaVersion, ...(clock ? { clock } : {}) });
  const p = store.partition('t', 0);
  p.put('a', { n: 1 });
  p.put('short', 'lived', { ttlMs: 10 });
  p.scope('s').put('b', 2);
  store.partition('t', 1).put('c', 3);
  await store.commit([
    { topic: 't', partition: 0, offset: 10 },
    { topic: 't', partition: 1, offset: 20 },
  ]);
  await store.close();
}

describe('a read-only store', () => {
  it('reads a directory another process holds, without touching its lock, and refuses every write', async () => {
    const dir = path.join(tmpDir('ro'), 'state');
    await seed(dir);
    const holder = runTs('test/fixtures/store-holder.ts', [dir]);
    const [, pid] = await holder.waitFor(/^OPEN (\d+)$/);
    await expect(StateStore.open({ path: dir })).rejects.toThrow(StateLockedError); // a writer is refused...
    const ro = await StateStore.open({ path: dir, readOnly: true }); // ...a reader is not
    expect(ro.readOnly).toBe(true);
    expect(ro.schemaVersion).toBe(1);
    expect(ro.offsets()).toEqual([
      { topic: 't', partition: 0, offset: '10' },
      { topic: 't', partition: 1, offset: '20' },
    ]);
    const p = ro.partition('t', 0);
    expect(p.get('a')).toEqual({ n: 1 });
    expect([...p.scope('s').entries()]).toEqual([{ key: 'b', value: 2 }]);
    const snap = await ro.snapshot();
    expect(snap.partitions()).toHaveLength(2);
    snap.release();
    for (const write of [() => p.put('a', 2), () => p.delete('a'), () => p.update('a', () => 3)])
      expect(write).toThrow(StoreReadOnlyError);
    await expect(ro.commit()).rejects.toThrow(/opened read-only/);
    await expect(ro.replacePartition({ topic: 't', partition: 0 }, [], '1')).rejects.toThrow(StoreReadOnlyError);
    await expect(ro.dropPartition({ topic: 't', partition: 0 })).rejects.toThrow(StoreReadOnlyError);
    await ro.close();
    // the holder's lock is untouched
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(Number(pid));
    holder.proc.stdin!.end();
    await holder.waitFor(/^CLOSED$/);
  });

  it('hides expired entries without removing them', async () => {
    const dir = path.join(tmpDir('ro'), 'state');
    const clock = new ManualClock(0);
    await seed(dir, clock, 3);
    clock.advance(10);
    const before = fs.statSync(path.join(dir, 'state.mdb')).mtimeMs;
    const ro = await StateStore.open({ path: dir, readOnly: true, clock, schemaVersion: 1 });
    expect(ro.schemaVersion).toBe(3); // the stored one, whatever the option: no migration, no refusal
    expect(ro.partition('t', 0).get('short')).toBeUndefined();
    expect([...ro.partition('t', 0).keys()]).toEqual(['a']);
    expect(await ro.sweep()).toBe(0);
    expect(ro.stats().partitions.find((s) => s.partition === 0)!.entries).toBe(3); // a, short (still stored), s/b
    await ro.close();
    expect(fs.statSync(path.join(dir, 'state.mdb')).mtimeMs).toBe(before);
  });

  it('is refused without state, and without LMDB', async () => {
    const empty = tmpDir('ro');
    await expect(StateStore.open({ path: empty, readOnly: true })).rejects.toThrow(StorageError);
    expect(fs.readdirSync(empty)).toEqual([]); // nothing created
    await expect(StateStore.open({ backend: 'memory', readOnly: true })).rejects.toThrow(ConfigError);
  });
});
