import { InvalidArgumentError } from 'commander';
import { parseTopicPartition, type TopicPartition } from '../util/topic-partition.js';

/** `--partition <topic>:<n>`, repeatable: collects every one given. */
export function collectPartition(value: string, previous: TopicPartition[] = []): TopicPartition[] {
  let tp: TopicPartition;
  try {
    tp = parseTopicPartition(value);
  } catch (err) {
    const message = (err as Error).message;
    // The library's message repeats the value, which commander already shows.
    throw new InvalidArgumentError(
      message.startsWith('invalid partition "') ? 'expected <topic>:<partition>, e.g. orders:3' : message,
    );
  }
  if (previous.some((p) => p.topic === tp.topic && p.partition === tp.partition)) return previous;
  return [...previous, tp];
}

/** A repeatable option taking a string. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** An integer >= `min`. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}, got ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds in a duration such as `90s`, `15m`, `12h`, `7d`, `2w`, `1d12h` (a unit is required). */
export function parseDuration(text: string): number {
  const t = text.trim();
  const part = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = part.exec(t)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  if (t.length === 0 || at !== t.length || !(total > 0) || !Number.isFinite(total)) {
    throw new InvalidArgumentError(
      `expected a duration such as 90s, 15m, 12h, 7d, 2w or 1d12h, got ${JSON.stringify(text)}`,
    );
  }
  return total;
}
