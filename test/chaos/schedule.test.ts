// The chaos schedule keeps its promises for any seed: scale 1 -> 3, at least
// one lost disk, one SIGTERM during a backoff and exactly one log-head
// deletion (in the second half), never a fault on a member it has not started.
import { describe, expect, it } from 'vitest';
import { chaosSchedule, type Step } from './schedule.js';

describe('chaos schedule', () => {
  it('holds every required fault, for 500 seeds', () => {
    for (let seed = 0; seed < 500; seed++) {
      const { steps, keeper } = chaosSchedule({ seed, churnMs: 45_000, slots: 3 });
      const kinds = steps.map((s) => s.do);
      const at = (s: Step) => steps.indexOf(s);
      expect(steps.slice(0, 4), `seed ${seed}`).toEqual([
        { do: 'start', slot: 0 },
        { do: 'wait', ms: 2500 },
        { do: 'start', slot: 1 },
        { do: 'start', slot: 2 },
      ]);
      expect(kinds.filter((k) => k === 'lose-disk').length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(kinds.filter((k) => k === 'term-in-backoff').length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(kinds.filter((k) => k === 'delete-head').length, `seed ${seed}`).toBe(1);
      // the deletion comes after half the churn has been waited out
      const del = steps.find((s) => s.do === 'delete-head')!;
      const waitedBefore = steps.slice(0, at(del)).reduce((n, s) => n + (s.do === 'wait' ? s.ms : 0), 0);
      expect(waitedBefore, `seed ${seed}`).toBeGreaterThan(45_000 / 2 - 2500);
      // kills and stops only hit members that a step started and nothing stopped since
      const up = new Set<number>();
      for (const s of steps) {
        if (s.do === 'start') up.add(s.slot);
        if (s.do === 'kill' || s.do === 'term' || s.do === 'lose-disk')
          expect(up.has(s.slot), `seed ${seed} ${JSON.stringify(s)}`).toBe(true);
        if (s.do === 'kill' || s.do === 'term') up.delete(s.slot);
      }
      expect([0, 1, 2]).toContain(keeper);
    }
  });

  it('is a function of the seed', () => {
    expect(chaosSchedule({ seed: 42, churnMs: 45_000, slots: 3 })).toEqual(
      chaosSchedule({ seed: 42, churnMs: 45_000, slots: 3 }),
    );
    expect(chaosSchedule({ seed: 42, churnMs: 45_000, slots: 3 })).not.toEqual(
      chaosSchedule({ seed: 43, churnMs: 45_000, slots: 3 }),
    );
  });
});
