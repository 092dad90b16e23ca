// Global setup of the "kafka" test project: a real Kafka broker for
// test/kafka/**. With KAFKA_BROKERS set, those brokers are used as they are;
// otherwise scripts/kafka/kafka.mjs starts one on a free port pair (so it never
// meets a developer's own broker on 9092) and stops it when the run ends.
//
// There is no skip mode, on CI (CI=true, TIDEMARK_REQUIRE_KAFKA=1) or on a
// laptop: a broker that cannot be had fails the run with a message saying how
// to get one.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap addresses of the broker the kafka tests run against, e.g. `['127.0.0.1:40123']`. */
    kafkaBrokers: string[];
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = path.join(root, 'scripts', 'kafka', 'kafka.mjs');

const HOW_TO = `The kafka tests (test/kafka/**) need a real Kafka broker. Either:
  - have a JDK (17+) and Maven on PATH: the test run then fetches Apache Kafka's jars
    (node scripts/kafka/kafka.mjs fetch) and starts a broker by itself, or
  - start one (npm run kafka:start) and run: KAFKA_BROKERS=127.0.0.1:9092 npm test
Only the unit tests, without a broker: npx vitest run --project unit
See docs/DEVELOPMENT.md, "Kafka broker for tests".`;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const configured = process.env.KAFKA_BROKERS?.trim();
  if (configured) {
    const brokers = configured
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    try {
      await describeCluster(brokers);
    } catch (e) {
      throw new Error(`KAFKA_BROKERS=${configured} is set, but no Kafka broker answered there: ${(e as Error).message}\n${HOW_TO}`);
    }
    project.provide('kafkaBrokers', brokers);
    return;
  }

  // A free port can be taken by someone else before the broker binds it: try
  // again on a fresh pair, a few times, for that failure only.
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port, controllerPort] = await freePorts(2);
    const env = { KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    try {
      // KAFKA_OWNER_PID: the broker is stopped even if this run is killed before teardown.
      const bootstrap = (await runScript('start', { ...env, KAFKA_OWNER_PID: String(process.pid) })).trim();
      project.provide('kafkaBrokers', [bootstrap]);
      return async () => {
        await runScript('stop', env);
      };
    } catch (e) {
      lastError = e as Error;
      // Its log tail is in the error already; leave no files (or process) behind.
      await runScript('stop', env).catch(() => {});
      if (!/in use|BindException/.test(lastError.message)) break;
    }
  }
  throw new Error(`No Kafka broker could be started for the kafka tests:\n${lastError?.message}\n\n${HOW_TO}`);
}

/** Runs `node scripts/kafka/kafka.mjs <command>`; resolves with its stdout, rejects with its stderr. */
function runScript(command: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, command], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`\`node scripts/kafka/kafka.mjs ${command}\` failed (${code ?? signal}):\n${err.trimEnd()}`));
    });
  });
}

/** `n` distinct ports that were free on 127.0.0.1 a moment ago. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function describeCluster(brokers: string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'tidemark-test-setup',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
