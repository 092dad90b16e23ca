// @platformatic/kafka 2.12.1's cooperative-sticky assignor leaves a member
// joining 3 members of 2 partitions each (6 partitions) with nothing, for
// good: graceful-stop.test.ts hung on it (issue 12). These tests run the
// client's own assignor, alone and under evenCooperativeAssignor, through
// the classic protocol's rounds (a member that lost a partition rejoins,
// which starts another round) until the group is stable.
import { cooperativeStickyAssigner } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { type AssignorMember, evenCooperativeAssignor, type MemberAssignments } from '../../src/kafka/even-assignor.js';
import { prng } from '../helpers/prng.js';

const TOPIC = 't';
type Assign = (
  current: string,
  members: Map<string, AssignorMember & { generationId?: number }>,
  topics: Set<string>,
  metadata: { topics: Map<string, { partitionsCount: number }> },
) => MemberAssignments[];
const base = cooperativeStickyAssigner as unknown as Assign;
const fixed = evenCooperativeAssignor(base);

interface Group {
  /** Partitions each member owns, by member id (join order). */
  owned: Map<string, number[]>;
  generation: number;
}

/**
 * Runs rounds until no member lost a partition (nobody rejoins). Checks the
 * cooperative rule in each round: a partition is never given to a member
 * while another member owned it before the round. Returns the rounds run.
 */
function settle(assign: Assign, group: Group, partitions: number): number {
  const metadata = { topics: new Map([[TOPIC, { partitionsCount: partitions }]]) };
  for (let round = 1; round <= 10; round++) {
    const members = new Map(
      [...group.owned].map(([id, owned]) => [
        id,
        {
          topics: [TOPIC],
          ownedPartitions: owned.length === 0 ? [] : [{ topic: TOPIC, partitions: [...owned] }],
          generationId: owned.length === 0 ? -1 : group.generation,
        },
      ]),
    );
    const result = assign([...members.keys()][0]!, members, new Set([TOPIC]), metadata);
    group.generation++;
    let revoked = false;
    const next = new Map<string, number[]>();
    for (const { memberId, assignments } of result) {
      const mine = assignments.get(TOPIC)?.partitions ?? [];
      for (const p of mine) {
        const before = [...group.owned].find(([id, o]) => id !== memberId && o.includes(p));
        expect(before, `round ${round}: partition ${p} given to ${memberId} while ${before?.[0]} owned it`).toBe(
          undefined,
        );
      }
      if (group.owned.get(memberId)!.some((p) => !mine.includes(p))) revoked = true;
      next.set(memberId, [...mine]);
    }
    group.owned = next;
    if (!revoked) return round;
  }
  throw new Error('the group did not settle in 10 rounds');
}

const sizes = (g: Group) => [...g.owned.values()].map((o) => o.length);
const all = (g: Group) => [...g.owned.values()].flat().sort((a, b) => a - b);

describe('the cooperative-sticky assignor, evened out', () => {
  it('gives a member joining 2, 2, 2 (6 partitions) its share: the client alone leaves it none', () => {
    const start = () => ({ owned: new Map<string, number[]>([['a', [0, 1, 2, 3, 4, 5]]]), generation: 1 });
    for (const [assign, expected] of [
      [base, 0],
      [fixed, 1],
    ] as const) {
      const g = start();
      g.owned.set('b', []);
      g.owned.set('c', []);
      settle(assign, g, 6);
      expect(sizes(g)).toEqual([2, 2, 2]);
      g.owned.set('d', []);
      settle(assign, g, 6);
      expect(g.owned.get('d')!.length).toBe(expected);
      expect(sizes(g).sort()).toEqual(expected === 0 ? [0, 2, 2, 2] : [1, 1, 2, 2]);
      expect(all(g)).toEqual([0, 1, 2, 3, 4, 5]);
    }
  });

  it('keeps every partition owned once, loads within one of each other, through random joins and leaves', () => {
    const seed = Number(process.env.TIDEMARK_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    for (let trial = 0; trial < 200; trial++) {
      const partitions = 1 + Math.floor(rnd() * 16);
      const g: Group = { owned: new Map([['m0', []]]), generation: 1 };
      let n = 1;
      for (let step = 0; step < 8; step++) {
        const leave = g.owned.size > 1 && rnd() < 0.4;
        if (leave) {
          const ids = [...g.owned.keys()];
          g.owned.delete(ids[Math.floor(rnd() * ids.length)]!);
        } else {
          const id = `m${n++}`;
          g.owned.set(id, []);
        }
        const rounds = settle(fixed, g, partitions);
        const s = sizes(g);
        const where = `seed ${seed} trial ${trial} step ${step} (${partitions} partitions): ${JSON.stringify([...g.owned])}`;
        expect(all(g), where).toEqual(Array.from({ length: partitions }, (_, i) => i));
        expect(Math.max(...s) - Math.min(...s), where).toBeLessThanOrEqual(1);
        expect(rounds, where).toBeLessThanOrEqual(3);
      }
    }
  });
});
