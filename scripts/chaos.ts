// Long group chaos runs (issue 8): `npm run chaos -- --minutes N [--seed S]
// [--runs K] [--checkpoints <path|s3://bucket/prefix>] [--keep]`.
//
// One run = test/chaos/harness.ts with a churn phase of N minutes (records
// produced at about 200/s meanwhile); with --runs K, K runs with seeds S,
// S+1, ... Against KAFKA_BROKERS if set, else a broker of its own
// (KAFKA_VERSION: 3.9.1 or 4.4.0). Prints each run's journal as it goes and
// its findings at the end; exit 1 if any run found anything. A run's
// directory (logs of every member, journal.log) is kept when it found
// something, or with --keep.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { startBroker, type BrokerProcess } from './kafka/broker-process.js';
import { runChaos, type ChaosReport } from '../test/chaos/harness.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    seed: { type: 'string' },
    runs: { type: 'string', default: '1' },
    checkpoints: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'sweep-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm run chaos -- [--minutes N (2)] [--seed S] [--runs K (1)] [--checkpoints <path|s3://bucket/prefix>] [--keep] [--sweep-ms M (300; 0: no TTL sweeps)]\n',
  );
  process.exit(0);
}
const minutes = Number(values.minutes);
const runs = Number(values.runs);
const first =
  values.seed !== undefined
    ? Number(values.seed)
    : process.env.CHAOS_SEED
      ? Number(process.env.CHAOS_SEED)
      : Math.floor(Math.random() * 2 ** 31);
if (!(minutes > 0) || !Number.isInteger(runs) || runs < 1 || !Number.isSafeInteger(first)) {
  process.stderr.write('chaos: --minutes must be > 0, --runs a positive integer, --seed an integer\n');
  process.exit(2);
}

let broker: BrokerProcess | undefined;
const configured = process.env.KAFKA_BROKERS?.trim();
const brokers = configured
  ? configured.split(',').map((b) => b.trim())
  : (broker = await startBroker(process.pid)).brokers;
process.stdout.write(
  `chaos: broker ${brokers.join(',')}${broker ? ` (Apache Kafka ${broker.version}, started for this run)` : ''}\n`,
);

const reports: ChaosReport[] = [];
try {
  for (let r = 0; r < runs; r++) {
    const seed = first + r;
    const churnMs = Math.round(minutes * 60_000);
    const report = await runChaos({
      brokers,
      seed,
      churnMs,
      records: Math.max(2000, Math.round(churnMs / 5)),
      ...(values.checkpoints ? { checkpoints: values.checkpoints } : {}),
      ...(values['sweep-ms'] !== undefined ? { sweepIntervalMs: Number(values['sweep-ms']) } : {}),
      log: (line) => process.stdout.write(`[seed ${seed}] ${line}\n`),
    });
    reports.push(report);
    if (report.findings.length === 0 && !values.keep) fs.rmSync(report.dir, { recursive: true, force: true });
  }
} finally {
  await broker?.stop();
}

process.stdout.write('\nchaos summary\n');
for (const r of reports) {
  const finite = r.termTimesMs.filter(Number.isFinite);
  process.stdout.write(
    `seed ${r.seed}: ${r.findings.length === 0 ? 'PASS' : `FAIL (${r.findings.length})`}; SIGTERMs ${r.termTimesMs.length}, ${r.termTimesMs.length - finite.length} not ended within the bound, the others within ${finite.length ? Math.max(...finite) : '-'} ms; ${Object.entries(
      r.counts,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}${r.findings.length ? `; run dir ${r.dir}` : ''}\n`,
  );
  for (const f of r.findings) process.stdout.write(`  - ${f.replace(/\n/g, '\n    ')}\n`);
}
process.exit(reports.every((r) => r.findings.length === 0) ? 0 : 1);
