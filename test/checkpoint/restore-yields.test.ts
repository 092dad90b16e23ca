// A restore writes into staging in slices of at most 10 ms of main-thread
// work (issue 10: no event-loop stall over 50 ms at any size). This checks the
// structure behind that figure, not a time: between any two slices, timers
// (a consumer's heartbeat is one) get to run. Before the fix, a chunk that
// arrived from the codec worker had its first slice written in the poll phase
// and its second in the check phase of the same turn, with no timers phase
// between: two slices back to back (gaps of 25-42 ms at every partition's
// start in a 1M-entry restore on a quiet machine, against 12 ms slices). The
// stall itself is measured in bench/restore.bench.ts.
import { describe, expect, it } from 'vitest';
import type { StateStore, TopicPartition } from '../../src/index.js';
import { checkpointNow, fill, onStagingApply, openRepo, openStore, rawState } from './support.js';

const TPS: TopicPartition[] = [
  { topic: 'yields', partition: 0 },
  { topic: 'yields', partition: 1 },
];
// Several decoded chunks (1 MiB each) per partition.
const N = 60_000;

// Records, for each slice a restore applies to staging, how many times a
// self-renewing 1 ms timer had fired when it began.
function turnsAtEachSlice(store: StateStore): { turns: number[]; stop: () => void } {
  let turn = 0;
  let running = true;
  const spin = () => {
    turn++;
    if (running) setTimeout(spin, 0);
  };
  setTimeout(spin, 0);
  const turns: number[] = [];
  onStagingApply(store, () => {
    turns.push(turn);
    return undefined;
  });
  return { turns, stop: () => (running = false) };
}

describe('a restore lets timers run between its write slices', () => {
  it('no two slices are applied without a timer firing between them, across chunk and partition boundaries', async () => {
    const source = await openStore();
    for (const tp of TPS) await fill(source, tp, N, N);
    const repo = openRepo();
    const info = await checkpointNow(source, repo);
    expect(info.rawBytes).toBeGreaterThan(3 * 1024 * 1024);

    const target = await openStore();
    const seen = turnsAtEachSlice(target);
    try {
      await repo.restore(target, { id: info.id });
    } finally {
      seen.stop();
    }
    for (const tp of TPS) expect(await rawState(target, tp)).toEqual(await rawState(source, tp));
    expect(seen.turns.length).toBeGreaterThan(4);
    const repeated = seen.turns.flatMap((t, i) => (i > 0 && t === seen.turns[i - 1] ? [i] : []));
    expect(
      repeated,
      `slices applied with no timer fired since the slice before them (of ${seen.turns.length})`,
    ).toEqual([]);
  });
});
