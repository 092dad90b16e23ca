/**
 * One benchmark figure. Every figure is measured against a baseline taken in
 * the same run on the same data (these machines are shared and noisy), and
 * `ratio` is oriented so that higher is better for tidemark:
 * for throughputs ratio = value / baseline, for durations and latencies
 * ratio = baseline / value.
 */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  /** What the baseline is (e.g. "plain Map", "raw lmdb-js"). */
  baselineName: string;
  ratio: number;
  /** The goal as text, e.g. "ratio >= 0.8" or "value < 50"; null when there is none. */
  goal: string | null;
  /** Whether the goal was met; null without a goal. */
  met: boolean | null;
}

/** Shared by every benchmark module. */
export interface BenchContext {
  /** A scratch directory for this run (removed afterwards). */
  workDir: string;
  /** Smaller sizes for a smoke run (`npm run bench -- --quick`). */
  quick: boolean;
  log(message: string): void;
}

type Goal = { ratioAtLeast: number } | { valueBelow: number } | null;

/** Builds a result; `higherIsBetter` says how value compares with baseline. */
export function figure(
  name: string,
  value: number,
  unit: string,
  baseline: number,
  baselineName: string,
  higherIsBetter: boolean,
  goal: Goal = null,
): BenchResult {
  const ratio = higherIsBetter ? value / baseline : baseline / value;
  let goalText: string | null = null;
  let met: boolean | null = null;
  if (goal !== null && 'ratioAtLeast' in goal) {
    goalText = `ratio >= ${goal.ratioAtLeast}`;
    met = ratio >= goal.ratioAtLeast;
  } else if (goal !== null) {
    goalText = `value < ${goal.valueBelow} ${unit}`;
    met = value < goal.valueBelow;
  }
  return {
    name,
    value: round(value),
    unit,
    baseline: round(baseline),
    baselineName,
    ratio: round(ratio),
    goal: goalText,
    met,
  };
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** Median of repeated measurements. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `rounds` times alternating with `baseline` (ABAB...) and returns median ms of each. */
export async function alternate(
  rounds: number,
  subject: () => Promise<number> | number,
  baseline: () => Promise<number> | number,
): Promise<{ subject: number; baseline: number }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    b.push(await baseline());
    a.push(await subject());
  }
  return { subject: median(a), baseline: median(b) };
}
