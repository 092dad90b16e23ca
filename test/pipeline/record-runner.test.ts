// The record runner's outcomes without a store (src/pipeline/record-runner.ts):
// a synchronous handler gets its outcome back synchronously (the pipeline's
// hot path awaits nothing per record); anything else still gets a promise.
import { describe, expect, it } from 'vitest';
import type { PartitionState } from '../../src/index.js';
import type { RecordHandler } from '../../src/pipeline/pipeline-options.js';
import { Progress } from '../../src/pipeline/progress.js';
import { RecordRunner } from '../../src/pipeline/record-runner.js';
import type { BatchControl, SourceRecord } from '../../src/pipeline/source.js';
import type { StateStore } from '../../src/state/state-store.js';

const TP = { topic: 't', partition: 0 };
const control: BatchControl = { heartbeat: async () => undefined, resolve: () => undefined, isActive: () => true };
const record = (offset: number): SourceRecord => ({
  topic: 't',
  partition: 0,
  offset: String(offset),
  key: null,
  value: null,
  headers: {},
  timestamp: '0',
});

function setup(handler: RecordHandler) {
  const p = new Progress(1000, 60_000).add(TP);
  p.recovered({} as PartitionState, 0n);
  p.resume();
  // No store: these handlers never fail, so nothing is rolled back.
  const runner = new RecordRunner(
    handler,
    {} as StateStore,
    { retries: 0, backoffMs: 1, maxBackoffMs: 1, onFailure: 'fail', deadLetter: undefined },
    [],
    { active: () => true },
  );
  return { p, runner };
}

describe('record runner', () => {
  it('gives a synchronous handler its outcome without a promise, and counts the record', () => {
    const seen: string[] = [];
    const { p, runner } = setup((m) => {
      seen.push(m.offset);
    });
    const outcome = runner.apply(p, record(0), control);
    expect(outcome).toBe('applied');
    expect(seen).toEqual(['0']);
    expect(p.replay().map((r) => r.offset)).toEqual(['0']);
  });

  it('waits for a handler that returns a promise before counting the record', async () => {
    let release!: () => void;
    const { p, runner } = setup(() => new Promise<void>((r) => (release = r)));
    const outcome = runner.apply(p, record(3), control);
    expect(outcome).toBeInstanceOf(Promise);
    await Promise.resolve();
    expect(p.replay()).toEqual([]); // not applied until the handler's promise settles
    release();
    expect(await outcome).toBe('applied');
    expect(p.replay().map((r) => r.offset)).toEqual(['3']);
  });

  it('treats any other returned value as settled, as an await would', async () => {
    const { p, runner } = setup((() => 42) as unknown as RecordHandler);
    expect(await runner.apply(p, record(5), control)).toBe('applied');
    expect(p.replay().map((r) => r.offset)).toEqual(['5']);
  });
});
