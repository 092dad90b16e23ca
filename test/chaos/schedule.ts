// The chaos test's seeded schedule: what happens to the group, in order.
// A pure function of the seed and the run's length, printed at the start of
// every run, so a seed names the same sequence of faults when it is rerun
// (the interleaving with the members' own timing still varies).
import { prng } from './workload.js';

export type Step =
  /** Start a member in `slot` (its own state directory) if it is not running. */
  | { do: 'start'; slot: number }
  /** SIGKILL the member in `slot`; it is started again by a later step. */
  | { do: 'kill'; slot: number }
  /** SIGTERM the member in `slot` and time its exit. */
  | { do: 'term'; slot: number }
  /** SIGKILL the member in `slot`, delete its state directory, start it again. */
  | { do: 'lose-disk'; slot: number }
  /** SIGTERM the next member that reports a failed handler attempt, during its retry backoff. */
  | { do: 'term-in-backoff' }
  /** Delete the log head of every partition, below every valid checkpoint's offset. */
  | { do: 'delete-head' }
  | { do: 'wait'; ms: number };

export interface ScheduleOptions {
  seed: number;
  /** Length of the churn phase, ms (the sum of the waits). */
  churnMs: number;
  /** Member slots; the group scales 1 -> slots -> 1. */
  slots: number;
}

/**
 * Scale 1 -> `slots`, random faults among the running members (at least one
 * lost disk, one SIGTERM during a backoff, one log-head deletion in the
 * second half), then the caller scales down to one member and lets it catch
 * up. Returns the steps and the slot that stays at the end.
 */
export function chaosSchedule(o: ScheduleOptions): { steps: Step[]; keeper: number } {
  const rnd = prng(o.seed ^ 0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const waitMs = () => 1500 + Math.floor(rnd() * 3000);
  const steps: Step[] = [
    { do: 'start', slot: 0 },
    { do: 'wait', ms: 2500 },
  ];
  for (let s = 1; s < o.slots; s++) steps.push({ do: 'start', slot: s });
  let elapsed = 2500;

  const up = new Set(Array.from({ length: o.slots }, (_, s) => s));
  const must: Step['do'][] = ['lose-disk', 'term-in-backoff', 'delete-head'];
  const events: Step['do'][] = [];
  while (elapsed < o.churnMs) {
    const ms = waitMs();
    events.push('wait');
    elapsed += ms;
    steps.push({ do: 'wait', ms });
    const down = [...Array(o.slots).keys()].filter((s) => !up.has(s));
    const second = elapsed > o.churnMs / 2;
    // Required faults first come due at random points; delete-head only in the second half.
    const due = must.filter((m) => (m === 'delete-head' ? second : true) && rnd() < 0.3);
    let what: Step['do'];
    if (due.length > 0) {
      what = due[0]!;
      must.splice(must.indexOf(what), 1);
    } else if (down.length > 0 && (up.size <= 1 || rnd() < 0.6)) {
      what = 'start';
    } else {
      what = pick(['kill', 'kill', 'term', 'term', 'lose-disk', 'term-in-backoff'] as const);
    }
    if (what === 'start') {
      const slot = pick(down);
      up.add(slot);
      steps.push({ do: 'start', slot });
    } else if (what === 'kill' || what === 'term') {
      const slot = pick([...up]);
      up.delete(slot);
      steps.push({ do: what, slot });
    } else if (what === 'lose-disk') {
      steps.push({ do: 'lose-disk', slot: pick([...up]) }); // it comes back with an empty disk
    } else if (what === 'term-in-backoff') {
      steps.push({ do: 'term-in-backoff' }); // which member is known only then; the next start brings it back
    } else {
      steps.push({ do: 'delete-head' });
    }
    events.push(what);
  }
  // Faults the dice never drew happen now, before the scale-down.
  for (const m of must)
    steps.push(m === 'lose-disk' ? { do: 'lose-disk', slot: pick([...up]) } : ({ do: m } as Step), {
      do: 'wait',
      ms: 2000,
    });
  return { steps, keeper: pick([...Array(o.slots).keys()]) };
}
