import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planRetention, resolveRetention, type RetentionCandidate } from '../../src/checkpoint/retention.js';
import {
  ConfigError,
  type CheckpointInfo,
  type CheckpointRepository,
  type StateStore,
  type TopicPartition,
} from '../../src/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { killHard, runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, filesUnder, flipBit, openRepo, openStore } from './support.js';

const P0 = { topic: 't', partition: 0 };
const P1 = { topic: 't', partition: 1 };
const HOUR = 3_600_000;

// Ids one minute apart from a fixed start, oldest first.
const T0 = Date.UTC(2026, 0, 1);
function id(minute: number): string {
  const d = new Date(T0 + minute * 60_000).toISOString();
  return `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}T${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}${d.slice(20, 23)}Z-${String(minute).padStart(16, '0')}`;
}
function c(
  minute: number,
  partitions: TopicPartition[],
  status: RetentionCandidate['status'] = 'valid',
): RetentionCandidate {
  return { id: id(minute), status, partitions };
}
const policy = (p: Parameters<typeof resolveRetention>[0] = {}) => resolveRetention(p);
const now = (minute: number) => T0 + minute * 60_000;

describe('retention rules (planRetention)', () => {
  it('keeps the newest N per partition (default 3)', () => {
    const cps = [1, 2, 3, 4, 5].map((m) => c(m, [P0]));
    const plan = planRetention(cps, policy(), now(10), new Set());
    expect(plan.delete.sort()).toEqual([id(1), id(2)]);
    expect(planRetention(cps, policy({ keepLast: 1 }), now(10), new Set()).delete.sort()).toEqual([
      id(1),
      id(2),
      id(3),
      id(4),
    ]);
  });

  it('applies "newest N" per partition: one consumer checkpointing often does not push out another\'s partitions', () => {
    // Consumer A checkpoints P0 every minute; consumer B checkpointed P1 once, long ago.
    const cps = [c(0, [P1]), ...[1, 2, 3, 4, 5, 6].map((m) => c(m, [P0]))];
    const plan = planRetention(cps, policy({ keepLast: 2 }), now(10), new Set());
    expect(plan.delete.sort()).toEqual([id(1), id(2), id(3), id(4)]);
    expect(plan.keep.find((k) => k.id === id(0))!.why).toMatch(/newest valid checkpoint of one of its partitions/);
    // A checkpoint goes only when every partition it holds has N newer ones.
    const mixed = [c(1, [P0, P1]), c(2, [P0]), c(3, [P0]), c(4, [P1])];
    expect(planRetention(mixed, policy({ keepLast: 2 }), now(10), new Set()).delete).toEqual([]);
    expect(planRetention([...mixed, c(5, [P1])], policy({ keepLast: 2 }), now(10), new Set()).delete).toEqual([id(1)]);
  });

  it('max age deletes old checkpoints, but never the newest valid one of any partition', () => {
    const cps = [c(1, [P0]), c(2, [P1]), c(3, [P0]), c(50, [P0])];
    const plan = planRetention(cps, policy({ keepLast: 10, maxAgeMs: 30 * 60_000 }), now(60), new Set());
    expect(plan.delete.sort()).toEqual([id(1), id(3)]);
    // Everything expired: the newest valid survives, and so does P1's only one.
    const all = planRetention(cps, policy({ maxAgeMs: 1 }), now(1000), new Set());
    expect(all.delete.sort()).toEqual([id(1), id(3)]);
  });

  it('never deletes the checkpoint holding a partition at its highest offset, however new the ones holding it lower (issue 8, item 5)', () => {
    // A member recovering slowly checkpointed P0 from stale local state (offset 5)
    // after the checkpoint holding it at 10: recovery needs the one at 10.
    const at = (minute: number, offsets: Array<[TopicPartition, string | null]>): RetentionCandidate => ({
      id: id(minute),
      status: 'valid',
      partitions: offsets.map(([tp, offset]) => ({ ...tp, offset })),
    });
    const cps = [
      at(1, [[P0, '7']]),
      at(2, [
        [P0, '10'],
        [P1, '3'],
      ]),
      at(3, [
        [P0, '5'],
        [P1, '4'],
      ]),
      at(4, [
        [P0, '5'],
        [P1, '6'],
      ]),
    ];
    const plan = planRetention(cps, policy({ keepLast: 1 }), now(10), new Set());
    expect(plan.delete.sort()).toEqual([id(1), id(3)]);
    expect(plan.keep).toContainEqual({ id: id(2), why: 'holds t:0 at its highest offset, 10' });
    // Also past maxAge: it is what recovery would take.
    expect(planRetention(cps, policy({ keepLast: 1, maxAgeMs: 1 }), now(10), new Set()).delete.sort()).toEqual([
      id(1),
      id(3),
    ]);
    // Equal highest offsets: the newest of them is kept, the older may go.
    const ties = [at(1, [[P0, '10']]), at(2, [[P0, '10']]), at(3, [[P0, '5']])];
    expect(planRetention(ties, policy({ keepLast: 1 }), now(10), new Set()).delete).toEqual([id(1)]);
  });

  it('never deletes the newest valid checkpoint, even with corrupt or newer-format ones above it', () => {
    const cps = [c(1, [P0]), c(2, [P0]), c(3, [], 'corrupt'), c(4, [], 'unsupported'), c(5, [], 'incomplete')];
    const plan = planRetention(cps, policy({ keepLast: 1, maxAgeMs: 1 }), now(6), new Set());
    expect(plan.delete).toEqual([id(1)]);
    expect(plan.keep.find((k) => k.id === id(2))!.why).toBe('newest valid checkpoint');
    expect(plan.quarantine).toEqual([id(3)]);
    expect(plan.keep.map((k) => k.id)).toContain(id(4));
    expect(plan.keep.map((k) => k.id)).toContain(id(5)); // incomplete, within the grace period
  });

  it('never deletes a checkpoint being read', () => {
    const cps = [1, 2, 3, 4].map((m) => c(m, [P0]));
    const plan = planRetention(cps, policy({ keepLast: 1 }), now(10), new Set([id(1)]));
    expect(plan.delete.sort()).toEqual([id(2), id(3)]);
    expect(plan.keep.find((k) => k.id === id(1))!.why).toBe('being read');
  });

  it('removes incomplete checkpoints only after the grace period', () => {
    const cps = [c(1, [P0]), c(2, [], 'incomplete'), c(100, [], 'incomplete')];
    expect(planRetention(cps, policy({ incompleteAfterMs: HOUR }), now(61), new Set()).deleteIncomplete).toEqual([]);
    expect(planRetention(cps, policy({ incompleteAfterMs: HOUR }), now(100) + 1, new Set()).deleteIncomplete).toEqual([
      id(2),
    ]);
    expect(
      planRetention(cps, policy({ incompleteAfterMs: HOUR }), now(100) + 1, new Set([id(2)])).deleteIncomplete,
    ).toEqual([]);
  });

  it('validates the policy', () => {
    for (const bad of [
      { keepLast: 0 },
      { keepLast: 1.5 },
      { maxAgeMs: 0 },
      { maxAgeMs: -1 },
      { incompleteAfterMs: -1 },
      { keep: 3 },
      3,
    ]) {
      expect(() => resolveRetention(bad as never), JSON.stringify(bad)).toThrow(ConfigError);
    }
    expect(resolveRetention(undefined)).toEqual({ keepLast: 3, maxAgeMs: undefined, incompleteAfterMs: HOUR });
  });
});

describe('prune on a real directory', () => {
  async function history(n: number, repo: CheckpointRepository, store: StateStore): Promise<CheckpointInfo[]> {
    const out: CheckpointInfo[] = [];
    for (let i = 1; i <= n; i++) {
      await fill(store, P0, 10 * i, i);
      out.push(await checkpointNow(store, repo));
    }
    return out;
  }

  it('deletes beyond the newest N, whole checkpoints only, and nothing else', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(5, repo, store);
    const r = await repo.prune({ keepLast: 2 });
    expect(r.deleted.sort()).toEqual([cps[0]!.id, cps[1]!.id, cps[2]!.id]);
    expect(fs.readdirSync(dir).sort()).toEqual([cps[3]!.id, cps[4]!.id]);
    expect((await repo.verify()).map((v) => v.status)).toEqual(['valid', 'valid']);
  });

  it('a dry run reports the plan and changes nothing, dead reader markers included', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(4, repo, store);
    fs.writeFileSync(path.join(dir, cps[3]!.id, 'manifest'), 'garbage\n');
    const marker = path.join(dir, 'readers', cps[0]!.id, 'elsewhere~1~0123456789ab');
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, '{}');
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(marker, old, old);
    const before = filesUnder(dir);
    const plan = await repo.prune({ keepLast: 1 }, { dryRun: true });
    expect(plan.deleted.sort()).toEqual([cps[0]!.id, cps[1]!.id]);
    expect(plan.quarantined).toEqual([cps[3]!.id]);
    expect(filesUnder(dir)).toEqual(before);
    const done = await repo.prune({ keepLast: 1 });
    expect(done.deleted.sort()).toEqual(plan.deleted.sort());
    expect(done.quarantined).toEqual(plan.quarantined);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('max age uses the repository clock', async () => {
    // Ahead of the real clock: ids never go back in time within a process.
    const clock = new ManualClock(Date.now() + 86_400_000);
    const repo = openRepo(tmpDir('ckret'), { clock });
    const store = await openStore();
    const cps: CheckpointInfo[] = [];
    for (let i = 0; i < 3; i++) {
      await fill(store, P0, 5, i + 1);
      cps.push(await checkpointNow(store, repo));
      clock.advance(HOUR);
    }
    expect((await repo.prune({ keepLast: 10, maxAgeMs: 150 * 60_000 })).deleted).toEqual([cps[0]!.id]);
    clock.advance(100 * HOUR);
    expect((await repo.prune({ keepLast: 10, maxAgeMs: 150 * 60_000 })).deleted).toEqual([cps[1]!.id]); // the newest stays
  });

  it('quarantines corrupt checkpoints instead of counting or deleting them; quarantine is left alone', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(3, repo, store);
    fs.writeFileSync(path.join(dir, cps[2]!.id, 'manifest'), 'garbage\n');
    const r = await repo.prune({ keepLast: 1 });
    expect(r.quarantined).toEqual([cps[2]!.id]);
    expect(r.deleted).toEqual([cps[0]!.id]); // cps[1] is now the newest valid
    expect((await repo.listQuarantined()).map((c) => c.id)).toEqual([cps[2]!.id]);
    await repo.prune({ keepLast: 1 });
    expect((await repo.listQuarantined()).map((c) => c.id)).toEqual([cps[2]!.id]);
    expect((await repo.list()).map((c) => c.id)).toEqual([cps[1]!.id]);
  });

  it('does not delete a checkpoint this process is reading', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(3, repo, store);
    // Pause the restore of the oldest checkpoint in the middle of reading it.
    const storage = repo.storage;
    const read = storage.readChunks.bind(storage);
    let reading!: () => void;
    const started = new Promise<void>((r) => (reading = r));
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    storage.readChunks = (key, options) => {
      const inner = read(key, options);
      return (async function* () {
        reading();
        await gate;
        yield* inner;
      })();
    };
    const target = await openStore();
    const restoring = repo.restore(target, { id: cps[0]!.id });
    await started;
    const r = await repo.prune({ keepLast: 1 });
    expect(r.deleted).toEqual([cps[1]!.id]);
    expect(r.kept.find((k) => k.id === cps[0]!.id)!.why).toBe('being read');
    resume();
    expect((await restoring).restored[0]!.checkpointId).toBe(cps[0]!.id);
    expect((await repo.prune({ keepLast: 1 })).deleted).toEqual([cps[0]!.id]);
    expect(filesUnder(path.join(dir, 'readers'))).toEqual([]);
  });

  it('respects a reader in another process, and removes its marker once that process is dead', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(3, repo, store);
    const child = runTs('test/fixtures/checkpoint-reader.ts', [dir, cps[0]!.id, 't', '0']);
    await child.waitFor(/^READING /);
    expect(filesUnder(path.join(dir, 'readers', cps[0]!.id))).toHaveLength(1);
    const r = await repo.prune({ keepLast: 1 });
    expect(r.deleted).toEqual([cps[1]!.id]);
    expect(fs.existsSync(path.join(dir, cps[0]!.id))).toBe(true);
    await killHard(child);
    expect((await repo.prune({ keepLast: 1 })).deleted).toEqual([cps[0]!.id]);
    expect(fs.existsSync(path.join(dir, 'readers'))).toBe(false);
  });

  it('a marker from another host counts until it is older than the marker TTL', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir, { readerMarkerTtlMs: 60_000 });
    const store = await openStore();
    const cps = await history(2, repo, store);
    const marker = path.join(dir, 'readers', cps[0]!.id, 'elsewhere.example~4242~0123456789ab');
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, '{}');
    expect((await repo.prune({ keepLast: 1 })).deleted).toEqual([]);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(marker, old, old);
    expect((await repo.prune({ keepLast: 1 })).deleted).toEqual([cps[0]!.id]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('flipped bits found by restore end in quarantine, which prune never empties', async () => {
    const dir = tmpDir('ckret');
    const repo = openRepo(dir);
    const store = await openStore();
    const cps = await history(2, repo, store);
    flipBit(path.join(dir, cps[1]!.id, 't.0.seg'), 1);
    const target = await openStore();
    await repo.restore(target);
    const r = await repo.prune({ keepLast: 1, maxAgeMs: 1 });
    expect(r.deleted).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'quarantine', cps[1]!.id, 't.0.seg'))).toBe(true);
  });
});
