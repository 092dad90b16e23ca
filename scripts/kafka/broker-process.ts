// Starts a throwaway Kafka broker through scripts/kafka/kafka.mjs on a free
// port pair, for the kafka tests' global setup and for `npm run bench`.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = path.join(root, 'scripts', 'kafka', 'kafka.mjs');

/** A running broker this process started. */
export interface BrokerProcess {
  brokers: string[];
  /** The Apache Kafka release it runs (KAFKA_VERSION, default 3.9.1). */
  version: string;
  stop(): Promise<void>;
}

/** The Kafka release `kafka.mjs` starts: KAFKA_VERSION, or its default. */
export function requestedKafkaVersion(): string {
  return process.env.KAFKA_VERSION?.trim() || '3.9.1';
}

/**
 * Starts a broker of the release KAFKA_VERSION names (default 3.9.1) on free
 * ports (retrying on a fresh pair if one was taken meanwhile). With
 * `ownerPid`, the broker is also stopped if that process dies without
 * calling stop().
 */
export async function startBroker(ownerPid: number = process.pid): Promise<BrokerProcess> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port, controllerPort] = await freePorts(2);
    const env = { KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    try {
      const bootstrap = (await runScript('start', { ...env, KAFKA_OWNER_PID: String(ownerPid) })).trim();
      return {
        brokers: [bootstrap],
        version: requestedKafkaVersion(),
        stop: async () => void (await runScript('stop', env)),
      };
    } catch (e) {
      lastError = e as Error;
      // Its log tail is in the error already; leave no files (or process) behind.
      await runScript('stop', env).catch(() => undefined);
      if (!/in use|BindException/.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('no broker could be started');
}

/** Runs `node scripts/kafka/kafka.mjs <command>`; resolves with its stdout, rejects with its stderr. */
export function runScript(command: string, env: Record<string, string>): Promise<string> {
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
      else
        reject(new Error(`\`node scripts/kafka/kafka.mjs ${command}\` failed (${code ?? signal}):\n${err.trimEnd()}`));
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
