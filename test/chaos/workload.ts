// The chaos test's workload and its reference model: deterministic records
// (key, value, event-time timestamp) from their index, and the state a
// consumer must hold after applying them, computed without tidemark.
//
// State per key is a session: `{ n, sum, first, last }`, put with a TTL of
// `ttlMs` event-time milliseconds on every record. The consumer's store clock
// reads the timestamp of the record being handled (test/chaos/event-clock.ts),
// so a key whose previous record is `ttlMs` or more older has expired and
// starts a new session: the same rule the store applies (expired when
// `now >= expiresAt`, `expiresAt = now + ttlMs` at the put).
import { prng } from '../helpers/prng.js';

export { prng };

/** One session as the handler stores it. */
export interface Session {
  /** Records in this session. */
  n: number;
  sum: number;
  /** Event time of its first and last record. */
  first: number;
  last: number;
}

/** What one record carries. */
export interface ChaosRecord {
  i: number;
  key: string;
  amount: number;
  /** Event time, ms since the epoch; also the Kafka record's timestamp. */
  ts: number;
  /** The handler throws on its first attempt at this record in each process (a transient failure). */
  fail: boolean;
}

export interface WorkloadOptions {
  seed: number;
  /** Event time of record 0. */
  baseTs: number;
  /** Event-time step between consecutive records, ms. */
  stepMs: number;
  keys: number;
  /** About one record in `failEvery` fails transiently; 0: none. */
  failEvery: number;
}

/**
 * The i-th record. Keys are drawn from a skewed distribution (a few hot
 * keys, a long tail), so some sessions last and some expire between records.
 */
export function chaosRecord(i: number, o: WorkloadOptions): ChaosRecord {
  const r = prng((o.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const u = r();
  const k = Math.floor(u * u * o.keys);
  return {
    i,
    key: `k${k}`,
    amount: Math.floor(r() * 21) - 10,
    ts: o.baseTs + i * o.stepMs,
    fail: o.failEvery > 0 && Math.floor(r() * o.failEvery) === 0,
  };
}

/** The record as produced to Kafka (the value is what the handler parses). */
export function toMessage(rec: ChaosRecord): { key: string; value: string; timestamp: string } {
  return {
    key: rec.key,
    value: JSON.stringify({ i: rec.i, amount: rec.amount, fail: rec.fail }),
    timestamp: String(rec.ts),
  };
}

/** The handler's transition: `prev` is the live value (undefined if absent or expired). */
export function nextSession(prev: Session | undefined, amount: number, ts: number): Session {
  return prev === undefined
    ? { n: 1, sum: amount, first: ts, last: ts }
    : { n: prev.n + 1, sum: prev.sum + amount, first: prev.first, last: ts };
}

/**
 * Every key's session after the records `[0, count)` in order, as seen at
 * event time `at`: keys whose session expired by then (`at >= last + ttlMs`)
 * are absent. Per key, records are applied in index order, which is their
 * order in the key's partition (one producer, sequential sends).
 */
export function referenceState(count: number, o: WorkloadOptions, ttlMs: number, at: number): Map<string, Session> {
  const live = new Map<string, Session>();
  for (let i = 0; i < count; i++) {
    const rec = chaosRecord(i, o);
    const prev = live.get(rec.key);
    const alive = prev !== undefined && rec.ts < prev.last + ttlMs ? prev : undefined;
    live.set(rec.key, nextSession(alive, rec.amount, rec.ts));
  }
  for (const [k, s] of live) if (at >= s.last + ttlMs) live.delete(k);
  return live;
}
