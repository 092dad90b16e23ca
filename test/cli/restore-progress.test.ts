// The CLI's per-partition restore progress line, from restoreProgress events (no I/O).
import { describe, expect, it } from 'vitest';
import { describeProgress } from '../../src/cli/commands/restore.js';

const base = {
  topic: 'orders',
  partition: 0,
  checkpointId: '20260101T000000000Z-0000000000000001',
  recordsTotal: 250_000,
  bytesTotal: 15_500_000,
};

describe('restore progress line', () => {
  it('says when a partition is ready, with records, bytes and rate', () => {
    expect(
      describeProgress({
        ...base,
        phase: 'done',
        recordsRestored: 250_000,
        bytesRestored: 15_500_000,
        elapsedMs: 1200,
      }),
    ).toBe('orders:0: ready: 250000 of 250000 records, 14.8 MiB of 14.8 MiB in 1.2 s (208333 records/s)');
  });

  it('while streaming, and when a checkpoint is abandoned', () => {
    expect(
      describeProgress({ ...base, phase: 'streaming', recordsRestored: 1000, bytesRestored: 2048, elapsedMs: 500 }),
    ).toBe('orders:0: 1000 of 250000 records, 2.0 KiB of 14.8 MiB (2000 records/s)');
    expect(describeProgress({ ...base, phase: 'failed', recordsRestored: 10, bytesRestored: 0, elapsedMs: 5 })).toBe(
      'orders:0: abandoned 20260101T000000000Z-0000000000000001 after 10 of 250000 records (nothing of it is visible)',
    );
  });
});
