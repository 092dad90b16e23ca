// The one rule of "which checkpoint restores a partition", without I/O.
import { describe, expect, it } from 'vitest';
import {
  firstChoices,
  planRestore,
  quarantineNote,
  restoreRound,
  splitHeld,
  type PlannedCheckpoint,
} from '../../src/checkpoint/restore-plan.js';

const P0 = { topic: 't', partition: 0 };
const P1 = { topic: 't', partition: 1 };
const Q0 = { topic: 'q', partition: 0 };

// Ids one minute apart, oldest first (they sort by time).
function id(minute: number): string {
  return `20260101T00${String(minute).padStart(2, '0')}00000Z-${String(minute).padStart(16, '0')}`;
}
function cp(
  minute: number,
  held: Array<[{ topic: string; partition: number }, string | null]>,
  status: PlannedCheckpoint['status'] = 'valid',
  quarantined = false,
): PlannedCheckpoint {
  return { id: id(minute), status, quarantined, partitions: held.map(([tp, offset]) => ({ ...tp, offset })) };
}
const ids = (plan: ReturnType<typeof planRestore>, i: number) =>
  plan.partitions[i]!.candidates.map((c) => `${c.id.slice(-2)}@${c.offset}`);

describe('planRestore', () => {
  it('per partition: highest offset first, not newest; the newest among equal offsets; then the rest as fallbacks', () => {
    const listing = [
      cp(4, [[P0, '5']]),
      cp(3, [
        [P0, '10'],
        [P1, '7'],
      ]),
      cp(2, [
        [P0, '10'],
        [P1, '9'],
      ]),
      cp(1, [[P0, '8']]),
    ];
    const plan = planRestore(listing, [P1, P0]);
    expect(plan.partitions.map((p) => `${p.topic}:${p.partition}`)).toEqual(['t:0', 't:1']);
    expect(ids(plan, 0)).toEqual(['03@10', '02@10', '01@8', '04@5']);
    expect(ids(plan, 1)).toEqual(['02@9', '03@7']);
    expect(plan.passOver).toEqual([]);
  });

  it('offsets compare as integers, beyond 2^53 too', () => {
    const plan = planRestore(
      [cp(1, [[P0, '9']]), cp(2, [[P0, '10']]), cp(3, [[P0, '9007199254740993']]), cp(4, [[P0, '9007199254740992']])],
      [P0],
    );
    expect(ids(plan, 0)).toEqual(['03@9007199254740993', '04@9007199254740992', '02@10', '01@9']);
  });

  it('without wanted partitions: every partition a valid checkpoint holds at an offset', () => {
    const listing = [cp(3, [[Q0, '1']], 'corrupt'), cp(2, [[P1, null]]), cp(1, [[P0, '4']])];
    const plan = planRestore(listing);
    expect(plan.partitions.map((p) => `${p.topic}:${p.partition}`)).toEqual(['t:0']);
    expect(plan.passOver).toEqual([id(3)]);
  });

  it('quarantined, incomplete, corrupt and unsupported checkpoints and offset-less partitions are no candidates', () => {
    const listing = [
      cp(6, [[P0, '60']], 'valid', true),
      cp(5, [], 'incomplete'),
      cp(4, [[P0, '40']], 'corrupt'),
      cp(3, [], 'corrupt'), // unreadable manifest: partitions unknown
      cp(2, [[P0, '20']], 'unsupported'),
      cp(1, [[P0, null]]),
      cp(0, [
        [P0, '1'],
        [P1, '1'],
      ]),
    ];
    const plan = planRestore(listing, [P0]);
    expect(ids(plan, 0)).toEqual(['00@1']);
    // Passed over (reported; corrupt ones quarantined): those that hold P0 or may.
    expect(plan.passOver).toEqual([id(4), id(3), id(2)]);
    expect(planRestore([cp(4, [[P1, '40']], 'corrupt')], [P0]).passOver).toEqual([]);
  });

  it('`above`: only checkpoints holding the partition further ahead than local state', () => {
    const listing = [
      cp(3, [
        [P0, '5'],
        [P1, '5'],
      ]),
      cp(2, [
        [P0, '10'],
        [P1, '3'],
      ]),
    ];
    const plan = planRestore(listing, [P0, P1], { above: (tp) => (tp.partition === 0 ? '5' : '4') });
    expect(ids(plan, 0)).toEqual(['02@10']);
    expect(ids(plan, 1)).toEqual(['03@5']);
    expect(ids(planRestore(listing, [P0], { above: () => '10' }), 0)).toEqual([]);
    expect(ids(planRestore(listing, [P0], { above: () => undefined }), 0)).toEqual(['02@10', '03@5']);
  });

  it('a partition no checkpoint holds gets no candidates; duplicates in wanted count once', () => {
    const plan = planRestore([cp(1, [[P0, '3']])], [Q0, P0, Q0]);
    expect(plan.partitions).toEqual([
      { topic: 'q', partition: 0, candidates: [] },
      { topic: 't', partition: 0, candidates: [{ id: id(1), offset: '3' }] },
    ]);
  });

  it('firstChoices: the checkpoint each partition would be restored from', () => {
    const choices = firstChoices([
      cp(3, [
        [P0, '5'],
        [P1, '8'],
      ]),
      cp(2, [[P0, '10']]),
      cp(1, [[P1, '8']]),
    ]);
    expect([...choices.values()]).toEqual([
      { topic: 't', partition: 0, id: id(2), offset: '10' },
      { topic: 't', partition: 1, id: id(3), offset: '8' },
    ]);
  });
});

describe('the rest of the restore decision', () => {
  it('pass-over actions: corrupt ones quarantined, unsupported ones left in place, with their reasons', () => {
    const listing: PlannedCheckpoint[] = [
      { ...cp(3, [[P0, '1']], 'unsupported'), reason: 'format 9' },
      { ...cp(2, [[P0, '1']], 'corrupt'), reason: 'bad hash' },
      cp(1, [[P0, '1']], 'corrupt'),
    ];
    const plan = planRestore(listing, [P0]);
    expect(plan.passOverActions).toEqual([
      { id: id(3), quarantine: false, reason: 'format 9' },
      { id: id(2), quarantine: true, reason: 'bad hash' },
      { id: id(1), quarantine: true, reason: 'corrupt' },
    ]);
    expect(plan.passOver).toEqual(plan.passOverActions.map((a) => a.id));
    expect(quarantineNote('bad hash', true)).toBe('bad hash (quarantined)');
    expect(quarantineNote('bad hash', false)).toBe('bad hash (could not quarantine)');
  });

  it('rounds: one read per checkpoint; a failed checkpoint sends its partitions to their next candidates; none left is missing', () => {
    const listing = [
      cp(3, [
        [P0, '10'],
        [P1, '10'],
      ]),
      cp(2, [[P0, '8']]),
      cp(1, [[Q0, '4']]),
    ];
    const plan = planRestore(listing, [P0, P1, Q0, { topic: 'z', partition: 9 }]);
    const first = restoreRound(plan.partitions, new Set());
    expect(first.loads).toEqual([
      { id: id(1), partitions: [Q0] },
      { id: id(3), partitions: [P0, P1] },
    ]);
    expect(first.missing).toEqual([{ topic: 'z', partition: 9 }]);
    // id(3) fails: its partitions go on; P1 has no other candidate.
    const again = plan.partitions.filter((p) => p.topic === 't');
    const second = restoreRound(again, new Set([id(3)]));
    expect(second.loads).toEqual([{ id: id(2), partitions: [P0] }]);
    expect(second.missing).toEqual([P1]);
    expect(restoreRound(again, new Set([id(3), id(2)])).missing).toEqual([P0, P1]);
  });

  it('a named checkpoint: the partitions it holds load, the others are missing in the order asked; none named means all it holds', () => {
    const held = [P0, P1];
    expect(splitHeld(held, [Q0, P1, { topic: 't', partition: 7 }])).toEqual({
      load: [P1],
      missing: [Q0, { topic: 't', partition: 7 }],
    });
    expect(splitHeld(held, undefined)).toEqual({ load: [P0, P1], missing: [] });
  });
});
