import { randomBytes } from 'node:crypto';

/**
 * Checkpoint ids: `YYYYMMDDTHHMMSSmmmZ-<16 hex>`, the UTC creation time to the
 * millisecond and 64 random bits. Ids sort by time as plain strings, and
 * processes sharing one checkpoint directory never collide.
 */
export const CHECKPOINT_ID_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]{16}$/;

let lastMs = 0;

/** A new id for a checkpoint created at `nowMs`; strictly increasing within this process. */
export function newCheckpointId(nowMs: number): string {
  // Two checkpoints in the same millisecond (or a clock stepping back) still
  // get increasing ids from one process.
  const ms = Math.max(Math.floor(nowMs), lastMs + 1);
  lastMs = ms;
  const iso = new Date(ms).toISOString(); // 2026-11-22T19:30:00.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}Z`;
  return `${stamp}-${randomBytes(8).toString('hex')}`;
}

/** True when `id` has the shape of a checkpoint id. */
export function isCheckpointId(id: unknown): id is string {
  return typeof id === 'string' && CHECKPOINT_ID_RE.test(id) && !Number.isNaN(checkpointTime(id));
}

/** The creation time encoded in an id, ms since the epoch (NaN if it is not an id). */
export function checkpointTime(id: string): number {
  const m = CHECKPOINT_ID_RE.exec(id);
  if (m === null) return Number.NaN;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as [number, number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  // Reject impossible dates that Date.UTC would roll over (month 13, day 32).
  const back = new Date(t);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && back.getUTCHours() === h ? t : Number.NaN;
}
