// Chains of incremental checkpoints (format 2), without I/O: which chain
// restores a partition, what is skipped and why, and what retention keeps.
import { describe, expect, it } from 'vitest';
import { chainResolver, planRestore, type PlannedCheckpoint } from '../../src/checkpoint/restore-plan.js';
import { planRetention, resolveRetention } from '../../src/checkpoint/retention.js';

const P0 = { topic: 't', partition: 0 };
const P1 = { topic: 't', partition: 1 };
const T0 = Date.UTC(2026, 0, 1);
function id(minute: number): string {
  const d = new Date(T0 + minute * 60_000).toISOString();
  return `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}T${d.slice(11, 13)}${d.slice(14, 16)}${d.slice(17, 19)}${d.slice(20, 23)}Z-${String(minute).padStart(16, '0')}`;
}
type Seg = [{ topic: string; partition: number }, string, number?]; // tp, offset, base minute (a delta)
function cp(minute: number, segs: Seg[], status: PlannedCheckpoint['status'] = 'valid', quarantined = false) {
  return {
    id: id(minute),
    status,
    quarantined,
    partitions: segs.map(([tp, offset, base]) =>
      base === undefined
        ? { ...tp, offset, kind: 'full' as const }
        : { ...tp, offset, kind: 'delta' as const, base: id(base) },
    ),
  };
}
const short = (ids: readonly string[]) => ids.map((i) => Number(i.slice(-2)));

describe('planRestore with chains', () => {
  it('a delta restores through its chain, full base first; the highest offset still wins', () => {
    const listing = [
      cp(4, [[P0, '40', 3]]),
      cp(3, [
        [P0, '30', 1],
        [P1, '30'],
      ]),
      cp(2, [[P1, '20']]),
      cp(1, [
        [P0, '10'],
        [P1, '10'],
      ]),
    ];
    const plan = planRestore(listing, [P0, P1]);
    const p0 = plan.partitions[0]!.candidates;
    expect(p0.map((c) => [Number(c.id.slice(-2)), c.offset, c.chain && short(c.chain)])).toEqual([
      [4, '40', [1, 3, 4]],
      [3, '30', [1, 3]],
      [1, '10', undefined],
    ]);
    expect(plan.partitions[1]!.candidates.map((c) => c.chain)).toEqual([undefined, undefined, undefined]);
    expect(plan.broken).toEqual([]);
  });

  it('a corrupt, quarantined, missing or partition-less link breaks the chains through it: the newest valid chain is next, and the broken deltas are reported', () => {
    const listing = [
      cp(6, [[P0, '60', 5]]),
      cp(5, [[P0, '50', 4]]),
      cp(4, [[P0, '40', 3]], 'corrupt'), // corrupt link in the middle
      cp(3, [[P0, '30', 1]]),
      cp(2, [[P1, '20', 1]]), // base 1 does not hold t:1
      cp(1, [[P0, '10']]),
    ];
    const plan = planRestore(listing, [P0, P1]);
    expect(plan.partitions[0]!.candidates.map((c) => [c.offset, c.chain && short(c.chain)])).toEqual([
      ['30', [1, 3]],
      ['10', undefined],
    ]);
    expect(plan.partitions[1]!.candidates).toEqual([]);
    expect(plan.passOver).toEqual([id(4)]);
    expect(plan.broken.map((b) => [`${b.topic}:${b.partition}`, Number(b.id.slice(-2)), b.reason])).toEqual([
      ['t:0', 6, `its chain's checkpoint ${id(4)} (base of ${id(5)}) is corrupt`],
      ['t:0', 5, `its chain's checkpoint ${id(4)} (base of ${id(5)}) is corrupt`],
      ['t:1', 2, `its chain's checkpoint ${id(1)} (base of ${id(2)}) does not hold t:1`],
    ]);
    const quarantined = [cp(3, [[P0, '30', 2]]), cp(2, [[P0, '20']], 'valid', true)];
    expect(planRestore(quarantined, [P0]).broken[0]!.reason).toMatch(/is in quarantine/);
    expect(planRestore([cp(3, [[P0, '30', 2]])], [P0]).broken[0]!.reason).toMatch(/is not listed/);
  });

  it('chainResolver answers for any checkpoint and tells why a chain is broken', () => {
    const listing = [
      cp(3, [[P0, '3', 2]]),
      cp(2, [[P0, '2', 1]]),
      cp(1, [[P0, '1']]),
      cp(0, [[P1, '1']], 'incomplete'),
    ];
    const chain = chainResolver(listing, P0);
    expect(short(chain(id(3)) as string[])).toEqual([1, 2, 3]);
    expect(chain(id(1))).toEqual([id(1)]);
    expect(chain(id(0))).toMatch(/is incomplete/);
    expect(chain(id(9))).toMatch(/is not listed \(deleted, or moved to quarantine\)/);
  });
});

describe('planRetention with chains', () => {
  const policy = resolveRetention({ keepLast: 2 });
  const now = T0 + 60 * 60_000;

  it('never deletes a checkpoint a kept delta needs, however old, through the whole chain', () => {
    const cps = [
      cp(5, [[P0, '50', 4]]),
      cp(4, [[P0, '40', 3]]),
      cp(3, [[P0, '30', 1]]),
      cp(2, [[P0, '20']]),
      cp(1, [[P0, '10']]),
    ];
    const plan = planRetention(cps, policy, now, new Set());
    // Newest 2 of t:0 are 5 and 4; 4's chain is 1 <- 3 <- 4.
    expect(short(plan.delete)).toEqual([2]);
    const why = new Map(plan.keep.map((k) => [Number(k.id.slice(-2)), k.why]));
    expect(why.get(3)).toBe(`base of t:0 in kept checkpoint ${id(4)}`);
    expect(why.get(1)).toBe(`base of t:0 in kept checkpoint ${id(3)}`);
  });

  it('once a full checkpoint supersedes a chain, the chain goes', () => {
    const cps = [cp(6, [[P0, '60', 5]]), cp(5, [[P0, '50']]), cp(4, [[P0, '40', 3]]), cp(3, [[P0, '30']])];
    const plan = planRetention(cps, policy, now, new Set());
    expect(short(plan.delete).sort()).toEqual([3, 4]);
  });

  it('max age never breaks a kept chain either', () => {
    const cps = [cp(3, [[P0, '30', 2]]), cp(2, [[P0, '20', 1]]), cp(1, [[P0, '10']])];
    const plan = planRetention(cps, resolveRetention({ keepLast: 1, maxAgeMs: 1 }), now, new Set());
    expect(plan.delete).toEqual([]);
  });
});
