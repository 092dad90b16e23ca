/** A source of wall-clock time in milliseconds since the epoch. Injectable so tests control TTL expiry. */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests and simulations. */
export class ManualClock implements Clock {
  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.current += ms;
  }

  /** Sets the time to `ms` milliseconds since the epoch. */
  set(ms: number): void {
    this.current = ms;
  }
}
