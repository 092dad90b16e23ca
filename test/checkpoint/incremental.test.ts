// Incremental checkpoints (format 2): delta segments chained to a parent,
// restored through their chain, with crashes, corruption and retention.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CheckpointInfo, type CheckpointRepository, StateStore, type TopicPartition } from '../../src/index.js';
import { CheckpointCoordinator } from '../../src/checkpoint/coordinator.js';
import { ManualClock } from '../../src/util/clock.js';
import type { PublishStep } from '../../src/checkpoint/local-storage.js';
import { CRASH_PARTITIONS, roundEntries } from '../fixtures/checkpoint-data.js';
import { killHard, runTs } from '../helpers/child.js';
import { prng } from '../helpers/prng.js';
import { tmpDir } from '../helpers/tmp.js';
import { filesUnder, flipBit, openRepo, openStore, rawState } from './support.js';

const T = [0, 1, 2].map((partition) => ({ topic: 'events', partition }));

async function memoryStore(): Promise<StateStore> {
  return StateStore.open({ backend: 'memory', sweepIntervalMs: 0 });
}

async function stateOf(store: StateStore, tps: readonly TopicPartition[]) {
  const out: Record<string, Awaited<ReturnType<typeof rawState>>> = {};
  for (const tp of tps) out[`${tp.topic}:${tp.partition}`] = await rawState(store, tp);
  return out;
}

function kinds(info: CheckpointInfo): string[] {
  return info.partitions.map((p) => `${p.partition}:${p.kind}${p.kind === 'delta' ? p.depth : ''}`);
}

describe('incremental checkpoints: property test', () => {
  const seed = Number(process.env.TIDEMARK_SEED ?? 20261203);
  it(`restoring base + increments equals restoring a full checkpoint of the same state (seed ${seed})`, async () => {
    console.log(`incremental property test seed: ${seed}`);
    const rand = prng(seed);
    const pick = (n: number) => Math.floor(rand() * n);
    const clock = new ManualClock(1_000_000);
    const store = await StateStore.open({ path: path.join(tmpDir('incprop'), 'state'), clock, sweepIntervalMs: 0 });
    const repo = openRepo();
    const fullRepo = openRepo();
    const co = new CheckpointCoordinator(store, repo, { retention: { keepLast: 2 }, maxIncrements: 4, clock });
    const offsets = new Map<string, number>();
    const seen = { full: 0, delta: 0, tombstones: 0 };
    for (let round = 0; round < 24; round++) {
      const ops = 1 + pick(round % 7 === 0 ? 400 : 40);
      for (let i = 0; i < ops; i++) {
        const tp = T[pick(T.length)]!;
        const p = store.partition(tp.topic, tp.partition);
        const key = `k${pick(300)}`;
        const r = rand();
        if (r < 0.55) p.put(key, { round, i, pad: 'x'.repeat(pick(30)) });
        else if (r < 0.75) p.put(key, round, { ttlMs: 1 + pick(5_000) });
        else if (r < 0.9) p.delete(key);
        else p.scope('other').put(key, [round, i]);
        const k = `${tp.topic}:${tp.partition}`;
        offsets.set(k, (offsets.get(k) ?? 0) + 1);
      }
      clock.advance(pick(3_000));
      if (rand() < 0.5) await store.sweep();
      await store.commit(
        [...offsets].map(([k, o]) => ({ topic: 'events', partition: Number(k.split(':')[1]), offset: o })),
      );
      const info = (await co.checkpoint())!;
      for (const part of info.partitions) {
        if (part.kind === 'delta') seen.delta++;
        else seen.full++;
        seen.tombstones += part.deletes ?? 0;
      }
      // The same state, in full, elsewhere.
      const snap = await store.snapshot();
      try {
        await fullRepo.write(snap);
      } finally {
        snap.release();
      }
      const fromChain = await memoryStore();
      const fromFull = await memoryStore();
      const r1 = await repo.restore(fromChain);
      await fullRepo.restore(fromFull, { id: (await fullRepo.list())[0]!.id });
      expect(r1.skipped, `round ${round}`).toEqual([]);
      expect(r1.restored.map((p) => p.checkpointId)).toEqual(info.partitions.map(() => info.id));
      const expected = await stateOf(store, T);
      expect(await stateOf(fromChain, T), `round ${round} ${kinds(info).join(' ')}`).toEqual(expected);
      expect(await stateOf(fromFull, T), `round ${round}`).toEqual(expected);
      // Restored through the chain: the entry count is the state's, not the delta's.
      for (const p of r1.restored) expect(p.entries).toBe(expected[`${p.topic}:${p.partition}`]!.entries.length);
      await fromChain.close();
      await fromFull.close();
    }
    // The run went through chains, rollovers to full and deletes.
    expect(seen.delta).toBeGreaterThan(20);
    expect(seen.full).toBeGreaterThan(6);
    expect(seen.tombstones).toBeGreaterThan(0);
    await co.stop();
    await store.close();
  }, 120_000);
});

/** Writes a base and `n` deltas of one partition, each changing a few keys and deleting one. */
async function chainOf(n: number, extra: { maxIncrements?: number } = {}) {
  const store = await openStore();
  const repo = openRepo();
  const co = new CheckpointCoordinator(store, repo, { retention: false, ...extra });
  const tp = { topic: 'orders', partition: 0 };
  const p = store.partition(tp.topic, tp.partition);
  for (let i = 0; i < 100; i++) p.put(`k${i}`, { i, v: 0 });
  await store.commit([{ ...tp, offset: 100 }]);
  const infos = [(await co.checkpoint())!];
  const states = [await rawState(store, tp)];
  for (let d = 1; d <= n; d++) {
    p.put(`k${d}`, { i: d, v: d });
    p.put(`new${d}`, d);
    p.delete(`k${50 + d}`);
    await store.commit([{ ...tp, offset: 100 + d }]);
    infos.push((await co.checkpoint())!);
    states.push(await rawState(store, tp));
  }
  return { store, repo, co, tp, infos, states };
}

describe('incremental checkpoints: chains', () => {
  it('a delta holds only what changed, names its base, and restores (planned, by id, exported) through its chain', async () => {
    const { repo, tp, infos, states } = await chainOf(3);
    expect(infos.map((i) => i.partitions[0]!.kind)).toEqual(['full', 'delta', 'delta', 'delta']);
    expect(infos.slice(1).map((i) => i.partitions[0]!.base)).toEqual(infos.slice(0, 3).map((i) => i.id));
    expect(infos.map((i) => i.partitions[0]!.depth)).toEqual([0, 1, 2, 3]);
    expect(infos[1]!.partitions[0]).toMatchObject({ entries: 3, deletes: 1 });
    expect(infos[1]!.storedBytes).toBeLessThan(infos[0]!.storedBytes);
    expect(infos[3]!.manifest!.formatVersion).toBe(2);
    const target = await memoryStore();
    const r = await repo.restore(target);
    expect(r.restored).toEqual([
      {
        ...tp,
        checkpointId: infos[3]!.id,
        offset: '103',
        entries: states[3]!.entries.length,
        chain: infos.map((i) => i.id),
      },
    ]);
    expect(await rawState(target, tp)).toEqual(states[3]);
    const byId = await memoryStore();
    await repo.restore(byId, { id: infos[2]!.id });
    expect(await rawState(byId, tp)).toEqual(states[2]);
    const exported = await repo.readEntries(infos[2]!.id, tp);
    expect([...exported.entries].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`)).toEqual(
      states[2]!.entries,
    );
    expect((await repo.verify()).every((v) => v.status === 'valid')).toBe(true);
  });

  it('a full checkpoint follows maxIncrements deltas', async () => {
    const { infos } = await chainOf(5, { maxIncrements: 2 });
    expect(infos.map((i) => `${i.partitions[0]!.kind}${i.partitions[0]!.depth}`)).toEqual([
      'full0',
      'delta1',
      'delta2',
      'full0',
      'delta1',
      'delta2',
    ]);
  });

  it('a full checkpoint follows once the deltas outgrow maxIncrementShare of the base', async () => {
    const { infos } = await chainOf(4, { maxIncrements: 100, maxIncrementShare: 0.0001 } as never);
    expect(infos.map((i) => i.partitions[0]!.kind)).toEqual(['full', 'delta', 'full', 'delta', 'full']);
  });

  it('a corrupt link in the middle of a chain: restore falls back to the newest valid chain, quarantines the link and says what it skipped', async () => {
    const { repo, tp, infos, states } = await chainOf(3);
    const dir = repo.storage.location;
    const bad = infos[2]!;
    flipBit(path.join(dir, bad.id, bad.partitions[0]!.file), 5);
    const target = await memoryStore();
    const r = await repo.restore(target);
    expect(r.restored.map((p) => [p.checkpointId, p.chain])).toEqual([[infos[1]!.id, [infos[0]!.id, infos[1]!.id]]]);
    expect(await rawState(target, tp)).toEqual(states[1]);
    expect(r.skipped).toEqual([
      { id: bad.id, reason: expect.stringMatching(/sha256 mismatch \(quarantined\)$/) },
      { id: infos[3]!.id, reason: expect.stringMatching(new RegExp(`restores through ${bad.id}, which failed`)) },
    ]);
    expect(fs.existsSync(path.join(dir, 'quarantine', bad.id, 'manifest'))).toBe(true);
    // Next time the plan itself knows the chain is broken, and says why.
    const again = await repo.restore(await memoryStore());
    expect(again.restored[0]!.checkpointId).toBe(infos[1]!.id);
    expect(again.skipped).toEqual([
      {
        id: infos[3]!.id,
        reason: `orders:0 is a delta whose chain is broken: its chain's checkpoint ${bad.id} (base of ${infos[3]!.id}) is not listed (deleted, or moved to quarantine) (left in place)`,
      },
    ]);
    await expect(repo.restore(await memoryStore(), { id: infos[3]!.id })).rejects.toThrow(/chain is broken/);
  });

  it('a corrupt base manifest: it is quarantined and every delta on it passed over and reported; none left holds the partition', async () => {
    const { repo, tp, infos, store, co } = await chainOf(1);
    const p = store.partition(tp.topic, tp.partition);
    p.put('late', 1);
    await store.commit([{ ...tp, offset: 200 }]);
    const later = (await co.checkpoint())!;
    expect(later.partitions[0]!.kind).toBe('delta');
    flipBit(path.join(repo.storage.location, infos[0]!.id, 'manifest'), 3);
    const r = await repo.restore(await memoryStore());
    expect(r.restored).toEqual([]);
    expect(r.missing).toEqual([tp]);
    expect(r.skipped.map((s) => s.id)).toEqual([infos[0]!.id, later.id, infos[1]!.id]);
    expect(r.skipped[0]!.reason).toMatch(/manifest.*\(quarantined\)$/);
    expect(r.skipped[1]!.reason).toMatch(/is a delta whose chain is broken: .* is corrupt \(left in place\)$/);
  });

  it('retention keeps every checkpoint a kept delta needs, and restore works after every pass', async () => {
    const store = await openStore();
    const repo = openRepo();
    const co = new CheckpointCoordinator(store, repo, { retention: { keepLast: 1 }, maxIncrements: 3 });
    const tp = { topic: 'orders', partition: 0 };
    const p = store.partition(tp.topic, tp.partition);
    for (let i = 0; i < 200; i++) p.put(`k${i}`, i);
    await store.commit([{ ...tp, offset: 1 }]);
    for (let n = 0; n < 9; n++) {
      p.put(`k${n}`, -n);
      await store.commit([{ ...tp, offset: 2 + n }]);
      const info = (await co.checkpoint())!;
      const listed = await repo.list();
      const depth = info.partitions[0]!.depth!;
      // The head and its whole chain, nothing more.
      expect(listed.length, `after checkpoint ${n}`).toBe(depth + 1);
      const target = await memoryStore();
      const r = await repo.restore(target);
      expect(r.skipped).toEqual([]);
      expect(await rawState(target, tp)).toEqual(await rawState(store, tp));
    }
  });
});

describe('a crash at each publication step of an increment (SIGKILL of a writer paused there)', () => {
  const steps: PublishStep[] = ['create', 'fsync', 'rename', 'dir-fsync', 'committed'];
  const cases: Array<[PublishStep, string, string]> = [
    ...steps.map((s): [PublishStep, string, string] => [s, 'the second segment', 'orders\\.1\\.seg$']),
    ...steps.map((s): [PublishStep, string, string] => [s, 'the manifest', '/manifest$']),
  ];
  it.each(cases)('before "%s" of %s: the chain restores the last published state', async (step, _, keyRe) => {
    const dir = tmpDir('inccrash');
    const ckDir = path.join(dir, 'checkpoints');
    const child = runTs('test/fixtures/checkpoint-writer.ts', [
      path.join(dir, 'state'),
      ckDir,
      step,
      keyRe,
      'incremental',
    ]);
    const [, firstId] = (await child.waitFor(/^FIRST (\S+)$/))!;
    await child.waitFor(/^PAUSED /);
    await killHard(child);
    const repo: CheckpointRepository = openRepo(ckDir);
    const listed = await repo.list();
    const second = listed.find((c) => c.id !== firstId);
    const published = keyRe.includes('manifest') && (step === 'dir-fsync' || step === 'committed');
    if (published) {
      expect(second?.status).toBe('valid');
      expect(second!.partitions.map((p) => [p.kind, p.base])).toEqual(CRASH_PARTITIONS.map(() => ['delta', firstId]));
    } else expect(second === undefined || second.status === 'incomplete', JSON.stringify(second)).toBe(true);
    for (const v of await repo.verify()) {
      if (listed.find((c) => c.id === v.id)!.status === 'valid') expect(v.status, v.id).toBe('valid');
    }
    const round = published ? 2 : 1;
    const target = await openStore();
    const r = await repo.restore(target);
    expect(r.skipped).toEqual([]);
    for (const tp of CRASH_PARTITIONS) {
      expect(target.offset(tp.topic, tp.partition)).toBe(String(1000 * round));
      expect([...target.partition(tp.topic, tp.partition).entries()].map((e) => [e.key, e.value])).toEqual(
        roundEntries(round, tp.partition),
      );
    }
    await repo.prune({ incompleteAfterMs: 0 });
    expect(filesUnder(ckDir).some((f) => /\.tmp-/.test(f))).toBe(false);
    expect((await repo.list()).every((c) => c.status === 'valid')).toBe(true);
    expect(fs.existsSync(path.join(ckDir, firstId!))).toBe(true);
  });
});
