// Session windows per user with an inactivity gap: the logic shared by the
// demo and the `sessions` example. A user's open session is one state entry
// with a time-to-live of one gap, re-put on every click: when the user is
// idle for a gap, the entry expires and the session is over. The store's
// `onExpired` option reports it (closedSession()). Totals per user live in a
// second scope, without a TTL.
//
// The demo runs on event time: the store's clock reads the timestamp of the
// record being processed (EventTimeClock), so expiry depends on the stream
// alone and a replay after a crash makes exactly the same decisions. The
// Kafka example runs on wall-clock time.
import type { Clock, ExpiredEntry, PartitionState, PipelineMessage } from '../../src/index.js';

/** A click event: the record value (JSON); the record key is the user. */
export interface Click {
  user: string;
  page: string;
  /** Event time, ms since the epoch. */
  ts: number;
}

/** The open session of a user. */
export interface OpenSession {
  start: number;
  last: number;
  clicks: number;
  /** The last ten pages. */
  pages: string[];
}

/** Per-user totals. */
export interface UserTotals {
  sessions: number;
  clicks: number;
}

/** A clock that reads the event time of the record being processed. */
export class EventTimeClock implements Clock {
  current = 0;
  now(): number {
    return this.current;
  }
}

/** Scope of the open sessions (entries with a TTL of one gap). */
export const OPEN = 'open';
/** Scope of the per-user totals. */
export const TOTALS = 'totals';

/**
 * The handler: a click extends the user's open session (re-put with a fresh
 * TTL of one gap) or, if there is none (the last one expired), starts a new
 * one. With `clock`, time is the click's event time.
 */
export function sessionize(gapMs: number, clock?: EventTimeClock) {
  return (message: PipelineMessage, state: PartitionState): void => {
    const click = JSON.parse(message.value!.toString()) as Click;
    if (clock !== undefined) clock.current = click.ts;
    const open = state.scope(OPEN);
    const totals = state.scope(TOTALS);
    const session = open.get<OpenSession>(click.user);
    const t = totals.get<UserTotals>(click.user) ?? { sessions: 0, clicks: 0 };
    const next: OpenSession =
      session === undefined
        ? { start: click.ts, last: click.ts, clicks: 1, pages: [click.page] }
        : {
            start: session.start,
            last: click.ts,
            clicks: session.clicks + 1,
            pages: [...session.pages.slice(-9), click.page],
          };
    if (session === undefined) t.sessions++;
    t.clicks++;
    open.put(click.user, next, { ttlMs: gapMs });
    totals.put(click.user, t);
  };
}

/** The closed session an `onExpired` report stands for, or undefined for other entries. */
export function closedSession(entry: ExpiredEntry): (OpenSession & { user: string }) | undefined {
  if (entry.scope !== OPEN || typeof entry.key !== 'string') return undefined;
  return { user: entry.key, ...(entry.value as OpenSession) };
}

/** Totals per user computed from the clicks alone: the reference the demo checks the state against. */
export function referenceTotals(clicks: readonly Click[], gapMs: number): Map<string, UserTotals> {
  const last = new Map<string, number>();
  const totals = new Map<string, UserTotals>();
  for (const c of clicks) {
    const t = totals.get(c.user) ?? { sessions: 0, clicks: 0 };
    const prev = last.get(c.user);
    if (prev === undefined || c.ts >= prev + gapMs) t.sessions++;
    last.set(c.user, c.ts);
    t.clicks++;
    totals.set(c.user, t);
  }
  return totals;
}

/** A deterministic stream of clicks: bursts of activity per user, event time increasing. */
export function generateClicks(n: number, users: number, startMs: number): Click[] {
  let seed = 0x2545f491;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const pages = ['/', '/search', '/product', '/cart', '/checkout', '/help', '/account'];
  const out: Click[] = [];
  let ts = startMs;
  let user = 0;
  for (let i = 0; i < n; i++) {
    // 70%: the same user keeps clicking (a burst); otherwise someone else.
    if (rand() > 0.7) user = Math.floor(rand() * users);
    ts += Math.floor(rand() * 2000);
    out.push({ user: `user-${user}`, page: pages[Math.floor(rand() * pages.length)]!, ts });
  }
  return out;
}
