// The one rule of "which checkpoint restores a partition", without I/O.
import { describe, expect, it } from 'vitest';
import { firstChoices, planRestore, type PlannedCheckpoint } from '../../src/checkpoint/restore-plan.js';

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
