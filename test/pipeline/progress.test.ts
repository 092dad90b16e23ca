// Partition progress and the commit schedule (src/pipeline/progress.ts), without a store.
import { describe, expect, it } from 'vitest';
import type { PartitionState } from '../../src/index.js';
import { Progress } from '../../src/pipeline/progress.js';
import type { SourceRecord } from '../../src/pipeline/source.js';

const TP = { topic: 't', partition: 0 };
const state = {} as PartitionState;

function record(offset: number): SourceRecord {
  return { topic: 't', partition: 0, offset: String(offset), key: null, value: null, headers: {}, timestamp: '0' };
}

describe('partition progress', () => {
  it('has nothing to commit while recovering, nor when the next offset is the committed one', () => {
    const progress = new Progress(10, 60_000);
    const p = progress.add(TP);
    expect(p.recovering).toBe(true);
    p.next = 5n;
    expect(p.pending()).toBeUndefined(); // recovering
    p.recovered(state, 5n);
    p.resume();
    expect(p.recovering).toBe(false);
    expect(p.committed).toBe(5n);
    expect(p.pending()).toBeUndefined();
    p.next = 7n;
    expect(p.pending()).toEqual({ topic: 't', partition: 0, offset: '7' });
  });

  it('replays the records applied since the last commit, without the dead-lettered ones', () => {
    const progress = new Progress(10, 60_000);
    const p = progress.add(TP);
    p.recovered(state, 0n);
    p.resume();
    const [a, b, c] = [record(0), record(1), record(2)];
    p.applied(a!);
    p.deadLettered(b!);
    p.applied(c!);
    expect(p.replay()).toEqual([a, c]);
    p.next = 3n;
    const [commit] = progress.beginCommit();
    expect(commit!.offset.offset).toBe('3');
    commit!.p.markCommitted(commit!.offset);
    expect(p.committed).toBe(3n);
    expect(p.replay()).toEqual([]);
    expect(progress.beginCommit()).toEqual([]); // nothing moved since
  });

  it('is due by count after commitRecords records, by time after commitMs, and restarts at each commit', () => {
    const progress = new Progress(3, 1000);
    const now = performance.now();
    expect(progress.countApplied()).toBe(false);
    expect(progress.countApplied()).toBe(false);
    expect(progress.countApplied()).toBe(true);
    expect(progress.dueByTime(now + 999)).toBe(false);
    expect(progress.dueByTime(now + 1000)).toBe(true);
    progress.beginCommit();
    expect(progress.dueByTimer(performance.now() + 1000)).toBe(false); // no record since the commit
    expect(progress.countApplied()).toBe(false); // the count restarted
    expect(progress.dueByTimer(performance.now() + 1000)).toBe(true);
  });

  it('tracks ownership: a removed or reassigned partition is not owned by its old progress', () => {
    const progress = new Progress(10, 60_000);
    const old = progress.add(TP);
    const other = progress.add({ topic: 't', partition: 1 });
    other.recovered(state, undefined);
    other.resume();
    expect(progress.anyRecovering()).toBe(true);
    expect(progress.recovered()).toEqual([{ topic: 't', partition: 1 }]);
    expect(progress.remove(TP)).toBe(true);
    expect(progress.remove(TP)).toBe(false);
    expect(progress.owns(old)).toBe(false);
    expect(progress.anyRecovering()).toBe(false);
    const again = progress.add(TP);
    expect(progress.owns(again)).toBe(true);
    expect(progress.owns(old)).toBe(false);
    expect([...progress.partitions()].length).toBe(2);
  });
});
