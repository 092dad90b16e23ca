/** The answer of a health or readiness check. */
export interface ProbeResult {
  ok: boolean;
  /** Why not, for a failed check: the body of the 503. */
  reason?: string;
}

/** A check as the metrics server takes it: a plain boolean will do. */
export type Probe = () => boolean | ProbeResult;

/** Runs a check; one that throws has failed, with its message as the reason. */
export function runProbe(probe: Probe | undefined): ProbeResult {
  if (probe === undefined) return { ok: true };
  try {
    const r = probe();
    if (typeof r === 'boolean') return { ok: r };
    return r.ok ? { ok: true } : { ok: false, ...(r.reason === undefined ? {} : { reason: r.reason }) };
  } catch (err) {
    return { ok: false, reason: `the check threw: ${err instanceof Error ? err.message : String(err)}` };
  }
}
