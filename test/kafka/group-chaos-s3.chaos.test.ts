// The group chaos test (group-chaos.chaos.test.ts) with one seed on S3
// (issue 9): the members share their checkpoints in a bucket of a real S3
// server (versitygw, started here by scripts/s3/s3.mjs; a server that cannot
// start fails the file) instead of a directory. Same faults, same checks.
// CHAOS_S3_SEED=<n> picks another seed.
import * as fs from 'node:fs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type S3Server } from '../../scripts/s3/s3.mjs';
import { runChaos } from '../chaos/harness.js';
import { brokers } from '../helpers/kafka.js';
import { uniqueName } from '../helpers/tmp.js';

const TERM_BOUND_MS = 10_000;
const seed = process.env.CHAOS_S3_SEED ? Number(process.env.CHAOS_S3_SEED) : 4;
const AWS_VARS = [
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
] as const;
const saved = new Map(AWS_VARS.map((k) => [k, process.env[k]]));
let server: S3Server;

beforeAll(async () => {
  server = await startServer();
  // The members (child processes) and the harness's own reads of the
  // checkpoints take the endpoint and credentials from the standard variables.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: server.endpoint,
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKey,
    AWS_SECRET_ACCESS_KEY: server.secretKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
}, 300_000);
afterAll(async () => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await server?.stop();
});

it(`a churning group with checkpoints on S3 ends with exact state (seed ${seed})`, async () => {
  const bucket = uniqueName('tm-chaos').toLowerCase();
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
  process.stderr.write(`group chaos on S3: seed ${seed} (rerun with CHAOS_S3_SEED=${seed} npm run test:chaos)\n`);
  const report = await runChaos({
    brokers: brokers(),
    seed,
    churnMs: 45_000,
    records: 9_000,
    termBoundMs: TERM_BOUND_MS,
    catchUpTimeoutMs: 60_000,
    checkpoints: `s3://${bucket}/group/checkpoints`,
  });
  const summary =
    `group chaos on S3, seed ${seed}: ${report.findings.length} finding(s); run dir ${report.dir}; ` +
    `rerun: CHAOS_S3_SEED=${seed} npm run test:chaos\n${report.findings.map((f) => `- ${f}`).join('\n')}`;
  expect(report.findings, summary).toEqual([]);
  expect(report.counts.lostDisks, summary).toBeGreaterThanOrEqual(1);
  expect(report.counts.termsInBackoff, summary).toBeGreaterThanOrEqual(1);
  expect(report.counts.headDeletions, summary).toBe(1);
  expect(Math.max(...report.termTimesMs), summary).toBeLessThan(TERM_BOUND_MS);
  fs.rmSync(report.dir, { recursive: true, force: true });
}, 360_000);
