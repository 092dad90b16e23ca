// A focused harness for profiling the @platformatic/kafka source's
// throughput (not a *.bench.ts: bench/run.ts does not pick it up):
//
//   KAFKA_BROKERS=127.0.0.1:9092 node scripts/node24.mjs node --cpu-prof --cpu-prof-dir=/tmp/prof \
//     --import tsx bench/profile-platformatic.ts <pipeline|bare> [records] [topic] [rounds]
//
// The bare consumer runs with the source's default fetch settings.
//
// Fills a new 4-partition topic with the balance records (or reuses
// [topic]), then consumes it [rounds] times (default 1) in a new group with
// the stateful pipeline on PlatformaticSource or with the bare client, and
// prints each rate.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PLATFORMATIC_CONSUMER_DEFAULTS } from '../src/kafka/platformatic-source.js';
import { PlatformaticSource } from '../src/index.js';
import { barePlatformatic, fillTopic, timedPipeline } from './lib/kafka-bench.js';
import type { BenchContext } from './lib/result.js';

// PLT_CONSUMER: further consumer options as JSON, for both (e.g. '{"maxBytes":4194304}').
const consumer = JSON.parse(process.env.PLT_CONSUMER ?? '{}') as Record<string, number>;
const [which = 'pipeline', records = '500000', given, roundsArg = '1'] = process.argv.slice(2);
const n = Number(records);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const topic = given || `bench-prof-${Date.now()}`;
if (!given) {
  await fillTopic(brokers, topic, 4, n);
  console.error(`produced ${n} records to ${topic}`);
}
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-prof-'));
const ctx: BenchContext = { workDir, quick: false, log: (m) => console.error(m) };
try {
  for (let round = 0; round < Number(roundsArg); round++) {
    const groupId = `bench-prof-${Date.now()}-${round}`;
    const t =
      which === 'bare'
        ? await barePlatformatic(brokers, topic, groupId, n, { ...PLATFORMATIC_CONSUMER_DEFAULTS, ...consumer })
        : await timedPipeline(
            ctx,
            new PlatformaticSource({ brokers, groupId, topics: [topic], clientId: 'tidemark-bench', consumer }),
            groupId,
            n,
          );
    const rate = (ms: number) => Math.round(n / (ms / 1000));
    console.log(
      `${which}: ${rate(t.fromAssigned)} records/s from the assignment (${t.fromAssigned.toFixed(0)} ms), ` +
        `${rate(t.fromFirst)} records/s from the first record (${t.fromFirst.toFixed(0)} ms)`,
    );
  }
} finally {
  fs.rmSync(workDir, { recursive: true, force: true });
}
