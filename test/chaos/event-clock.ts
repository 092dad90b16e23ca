// The chaos consumer's store clock: event time, so TTL expiries are a
// function of the records alone and the reference model can compute them.
import type { Clock } from '../../src/index.js';

/**
 * While the handler runs, `now()` is the timestamp of its record: reads see
 * a session as expired exactly when the record comes `ttlMs` or more after
 * the session's last one, and puts expire `ttlMs` after their record.
 *
 * Outside the handler (the store's periodic sweep), `now()` is a floor no
 * later record of an owned partition can precede: the smallest, over owned
 * partitions, of the timestamp of the last record each has committed (0 while
 * any owned partition has committed nothing in this process). Whatever a
 * sweep removes at that time, every later record of the partition would have
 * found expired too, even after a rollback to the last commit: sweeps remove
 * early what reads would have hidden, never more.
 */
export class EventClock implements Clock {
  private current: number | undefined;
  /** Per owned partition: timestamps of records handled since its last commit, by offset. */
  private readonly handled = new Map<number, Map<string, number>>();
  /** Per owned partition: timestamp of the last committed record. */
  private readonly committedTs = new Map<number, number>();
  private owned: number[] = [];

  now(): number {
    if (this.current !== undefined) return this.current;
    let floor = Number.POSITIVE_INFINITY;
    for (const p of this.owned) floor = Math.min(floor, this.committedTs.get(p) ?? 0);
    return Number.isFinite(floor) ? floor : 0;
  }

  /** Runs `fn` (the handler's state operations) at the record's event time. */
  at<T>(partition: number, offset: string, ts: number, fn: () => T): T {
    this.current = ts;
    try {
      const out = fn();
      let m = this.handled.get(partition);
      if (m === undefined) this.handled.set(partition, (m = new Map()));
      m.set(offset, ts);
      return out;
    } finally {
      this.current = undefined;
    }
  }

  /** The owned partitions changed (or a partition was recovered elsewhere): forget what is no longer ours. */
  assigned(partitions: number[]): void {
    this.owned = [...partitions];
    for (const p of [...this.committedTs.keys()]) if (!partitions.includes(p)) this.committedTs.delete(p);
    for (const p of [...this.handled.keys()]) if (!partitions.includes(p)) this.handled.delete(p);
  }

  /** A commit made `offset` the next offset of `partition`: the record before it is the floor's candidate. */
  committed(partition: number, offset: string | undefined): void {
    const m = this.handled.get(partition);
    if (offset === undefined || m === undefined) return;
    const last = m.get((BigInt(offset) - 1n).toString());
    if (last !== undefined) this.committedTs.set(partition, last);
    for (const o of [...m.keys()]) if (BigInt(o) < BigInt(offset)) m.delete(o);
  }
}
