// Group-offset commits to the source are sent in order and not awaited by
// processing. When the broker is slow, commits queue behind the one in
// flight: they are merged into one (each partition's latest offset), so a
// stop that waits for them (drained) waits for at most two round trips
// instead of one per commit made meanwhile. Before the merge, a member given
// every partition after a rejoin sat in drained() while dozens of queued
// commits went out one by one (graceful-stop under load, 2026-12-03).
import { describe, expect, it } from 'vitest';
import { CommitPoint } from '../../src/pipeline/commit-point.js';
import type { Progress } from '../../src/pipeline/progress.js';
import type { Source } from '../../src/pipeline/source.js';
import type { StateStore } from '../../src/state/state-store.js';
import type { PartitionOffset } from '../../src/util/topic-partition.js';

// A source whose commits wait until released, one by one.
function slowSource() {
  const calls: PartitionOffset[][] = [];
  const gates: Array<() => void> = [];
  const source = {
    commit: (offsets: readonly PartitionOffset[]) => {
      calls.push([...offsets]);
      return new Promise<void>((resolve) => gates.push(resolve));
    },
  } as unknown as Source;
  const releaseNext = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { source, calls, releaseNext };
}

const off = (partition: number, offset: number): PartitionOffset => ({ topic: 't', partition, offset: String(offset) });

describe('commit point: offsets to the source', () => {
  it('merges commits queued behind a slow one: each partition its latest offset, in one commit', async () => {
    const s = slowSource();
    const point = new CommitPoint({} as Progress, {} as StateStore, s.source, []);
    point.toSource([off(0, 10), off(1, 10)]);
    await new Promise((r) => setImmediate(r)); // the first commit starts
    expect(s.calls).toEqual([[off(0, 10), off(1, 10)]]);
    for (let i = 11; i <= 30; i++) point.toSource([off(0, i), ...(i % 2 === 0 ? [off(1, i)] : [])]);
    point.toSource([off(2, 5)]);
    const drained = point.drained();
    let settled = false;
    void drained.then(() => (settled = true));
    await s.releaseNext();
    await s.releaseNext();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled, `still waiting after 2 round trips, ${s.calls.length} commits sent`).toBe(true);
    // Two commits in all, the second with every partition's last offset.
    expect(s.calls).toHaveLength(2);
    expect(s.calls[1]).toEqual(expect.arrayContaining([off(0, 30), off(1, 30), off(2, 5)]));
    expect(s.calls[1]).toHaveLength(3);
  });

  it('drained() settles once what was queued when it was called is sent, though commits keep coming', async () => {
    const s = slowSource();
    const point = new CommitPoint({} as Progress, {} as StateStore, s.source, []);
    point.toSource([off(0, 1)]);
    await new Promise((r) => setImmediate(r)); // offset 1 is in flight
    point.toSource([off(0, 2)]);
    const drained = point.drained();
    await s.releaseNext(); // offset 1 lands
    point.toSource([off(0, 3)]); // joins the waiting commit, or queues behind it
    await s.releaseNext(); // offset 2 (or 2 and 3 merged: 3) lands
    await drained;
    if (s.calls.length === 3) await s.releaseNext();
    await point.drained();
    const sent = s.calls.map((c) => Number(c[0]!.offset));
    expect(sent[0]).toBe(1);
    expect(sent.at(-1)).toBe(3);
    expect([...sent].sort((a, b) => a - b)).toEqual(sent); // in order, never back
    expect(s.calls.length).toBeLessThanOrEqual(3);
  });
});
