// The group chaos test of issue 8 on the real broker: three consumer
// processes in one group (test/chaos/consumer.ts) sharing a checkpoint
// directory, seeded SIGKILLs, SIGTERMs (one during a retry backoff), starts,
// scale 1 -> 3 -> 1, a lost disk, the log head deleted below every valid
// checkpoint, TTLs on event time; at the end the last member alone must hold
// exactly the reference state, the group's offsets must be the log end, and
// every SIGTERM must end its process within 10 s. test/chaos/harness.ts does
// the work; `npm run chaos -- --minutes N` runs it longer.
//
// Part of `npm test` (the kafka project) with a fixed seed, 3, whose schedule
// lands a SIGTERM in a rebalance (the last bug it found), so CI stays
// repeatable; `npm run test:chaos` runs only the chaos tests. CHAOS_SEED=<n>
// runs another seed (CHAOS_SEED=random picks one and prints it); CHAOS_CHECKPOINTS=<path|s3://bucket/prefix>
// moves the shared checkpoints; CHAOS_VERBOSE=1 prints the run's journal.
import * as fs from 'node:fs';
import { expect, it } from 'vitest';
import { runChaos } from '../chaos/harness.js';
import { brokers } from '../helpers/kafka.js';

const TERM_BOUND_MS = 10_000;
const seed =
  process.env.CHAOS_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : process.env.CHAOS_SEED
      ? Number(process.env.CHAOS_SEED)
      : 3;

it(`a churning group ends with exact state (seed ${seed})`, async () => {
  process.stderr.write(
    `group chaos: seed ${seed} (rerun with CHAOS_SEED=${seed} npm run test:chaos, or npm run chaos -- --seed ${seed})\n`,
  );
  const report = await runChaos({
    brokers: brokers(),
    seed,
    churnMs: 45_000,
    records: 9_000,
    termBoundMs: TERM_BOUND_MS,
    catchUpTimeoutMs: 60_000,
    ...(process.env.CHAOS_CHECKPOINTS ? { checkpoints: process.env.CHAOS_CHECKPOINTS } : {}),
    ...(process.env.CHAOS_VERBOSE ? { log: (line: string) => process.stderr.write(`[chaos ${seed}] ${line}\n`) } : {}),
  });
  const summary =
    `group chaos seed ${seed}: ${report.findings.length} finding(s); run dir (journal.log, logs/ of every member) ${report.dir}; ` +
    `rerun: CHAOS_SEED=${seed} npm run test:chaos\n${report.findings.map((f) => `- ${f}`).join('\n')}`;
  expect(report.findings, summary).toEqual([]);
  expect(report.counts.lostDisks, summary).toBeGreaterThanOrEqual(1);
  expect(report.counts.termsInBackoff, summary).toBeGreaterThanOrEqual(1);
  expect(report.counts.headDeletions, summary).toBe(1);
  expect(Math.max(...report.termTimesMs), summary).toBeLessThan(TERM_BOUND_MS);
  fs.rmSync(report.dir, { recursive: true, force: true });
}, 360_000);
