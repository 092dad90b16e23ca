// The per-partition seek and pause the @platformatic/kafka source builds on
// the client's one fetch-position map (src/kafka/record-fence.ts). Pure: no broker.
import { describe, expect, it } from 'vitest';
import { RecordFence } from '../../src/kafka/record-fence.js';

const offsets = (from: number, n: number) => Array.from({ length: n }, (_, i) => BigInt(from + i));

describe('RecordFence', () => {
  it('delivers nothing of a partition until it is ready, nor after it is revoked', () => {
    const f = new RecordFence();
    const fetchAt = new Map<string, bigint>();
    f.add('t:0');
    expect(f.admit('t:0', offsets(0, 3), fetchAt)).toEqual([]);
    f.ready('t:0');
    expect(f.admit('t:0', offsets(0, 3), fetchAt)).toEqual([0, 1, 2]);
    expect(f.position('t:0')).toBe(3n);
    f.remove('t:0');
    expect(f.admit('t:0', offsets(3, 3), fetchAt)).toEqual([]);
    expect(f.epoch('t:0')).toBe(-1);
  });

  it('a seek points the fetch there, drops records below it and a stale fetch past it', () => {
    const f = new RecordFence();
    const fetchAt = new Map<string, bigint>([['t:0', 50n]]);
    f.add('t:0');
    f.seek('t:0', 10n, fetchAt);
    f.ready('t:0');
    expect(fetchAt.get('t:0')).toBe(10n);
    // A fetch from before the seek (at 50) lands: dropped, the fetch set back to 10.
    fetchAt.set('t:0', 60n);
    expect(f.admit('t:0', offsets(50, 10), fetchAt)).toEqual([]);
    expect(fetchAt.get('t:0')).toBe(10n);
    // Records below the position are dropped, the rest delivered.
    expect(f.admit('t:0', offsets(8, 4), fetchAt)).toEqual([2, 3]);
    expect(f.position('t:0')).toBe(12n);
  });

  it('a record past the position is refetched; the same one three times in a row is a hole in the log', () => {
    const f = new RecordFence();
    const fetchAt = new Map<string, bigint>();
    f.add('t:0');
    f.ready('t:0');
    f.seek('t:0', 5n, fetchAt);
    expect(f.admit('t:0', [7n, 8n], fetchAt)).toEqual([]);
    expect(f.admit('t:0', [7n, 8n], fetchAt)).toEqual([]);
    expect(fetchAt.get('t:0')).toBe(5n);
    expect(f.admit('t:0', [7n, 8n], fetchAt)).toEqual([0, 1]);
    expect(f.position('t:0')).toBe(9n);
    // Not only after a seek: records the client lost are fetched again.
    expect(f.admit('t:0', [12n], fetchAt)).toEqual([]);
    expect(fetchAt.get('t:0')).toBe(9n);
    expect(f.admit('t:0', [9n, 10n], fetchAt)).toEqual([0, 1]);
  });

  it('a seek or a revoke changes the epoch (a batch in flight becomes inactive); reapply restores reset positions', () => {
    const f = new RecordFence();
    const fetchAt = new Map<string, bigint>();
    f.add('t:0');
    f.add('t:1');
    f.ready('t:0');
    f.ready('t:1');
    f.seek('t:0', 3n, fetchAt);
    const e = f.epoch('t:0');
    f.seek('t:0', 3n, fetchAt);
    expect(f.epoch('t:0')).not.toBe(e);
    // The client reset every fetch position (committed offsets at an assignment).
    fetchAt.set('t:0', 0n);
    fetchAt.set('t:1', 0n);
    f.reapply(fetchAt);
    expect(fetchAt.get('t:0')).toBe(3n);
    expect(fetchAt.get('t:1')).toBe(0n); // never positioned: the client's own position
  });

  it('holds a partition while its position is looked up', () => {
    const f = new RecordFence();
    const fetchAt = new Map<string, bigint>();
    f.add('t:0');
    f.ready('t:0');
    f.hold('t:0');
    expect(f.isHeld('t:0')).toBe(true);
    expect(f.admit('t:0', offsets(0, 2), fetchAt)).toEqual([]);
    f.seek('t:0', 0n, fetchAt);
    expect(f.isHeld('t:0')).toBe(false);
    expect(f.admit('t:0', offsets(0, 2), fetchAt)).toEqual([0, 1]);
  });
});
