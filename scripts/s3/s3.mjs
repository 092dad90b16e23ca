#!/usr/bin/env node
// A real S3 server for tests and CI: the Versity S3 Gateway (versitygw,
// Apache-2.0) serving a local directory over the S3 API, on loopback only.
//
//   node scripts/s3/s3.mjs install   build versitygw from the Go module proxy (once; cached)
//   node scripts/s3/s3.mjs start     start one in the foreground on a free port; prints its
//                                    endpoint as `AWS_ENDPOINT_URL=...` lines, Ctrl-C stops it
//
// The binary is looked for, in order: $VERSITYGW, .s3/bin/versitygw, $(go env
// GOPATH)/bin/versitygw; one is used only if `go version -m` says it is
// versitygw v1.8.0. Otherwise `go install ...@v1.8.0` builds it into .s3/bin
// (about 2 minutes). Built-ins only. See docs/DEVELOPMENT.md, "S3 server for tests".
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSITYGW_MODULE = 'github.com/versity/versitygw';
export const VERSITYGW_VERSION = 'v1.8.0';
export const ACCESS_KEY = 'tidemarktest';
export const SECRET_KEY = 'tidemarktestsecret';
export const REGION = 'us-east-1';
const HOST = '127.0.0.1';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = path.join(root, '.s3', 'bin');

const log = (msg) => process.stderr.write(`s3: ${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isWanted(file) {
  if (!file || !fs.existsSync(file)) return false;
  const r = spawnSync('go', ['version', '-m', file], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  return new RegExp(`^\\s*mod\\s+${VERSITYGW_MODULE.replace(/[./]/g, '\\$&')}\\s+${VERSITYGW_VERSION}\\s`, 'm').test(
    r.stdout,
  );
}

function goPathBin() {
  const r = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  return r.status === 0 ? path.join(r.stdout.trim().split(path.delimiter)[0] ?? '', 'bin', 'versitygw') : undefined;
}

/** Path of a versitygw v1.8.0 binary, building it with `go install` if none is found. */
export function installServer() {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (probe.status !== 0)
    throw new Error('Go is not on PATH: it is needed to build versitygw (go install). Install Go 1.24+.');
  for (const candidate of [process.env.VERSITYGW, path.join(bin, 'versitygw'), goPathBin()]) {
    if (isWanted(candidate)) return candidate;
  }
  log(`building versitygw ${VERSITYGW_VERSION} with go install into ${bin} (about 2 minutes)`);
  fs.mkdirSync(bin, { recursive: true });
  const r = spawnSync('go', ['install', `${VERSITYGW_MODULE}/cmd/versitygw@${VERSITYGW_VERSION}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOBIN: bin, GOFLAGS: '' },
  });
  const built = path.join(bin, 'versitygw');
  if (r.status !== 0 || !isWanted(built))
    throw new Error(`go install of versitygw ${VERSITYGW_VERSION} failed (exit ${r.status})`);
  return built;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function answers(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    sock.setTimeout(1000);
    sock.once('connect', () => sock.write(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString('latin1').startsWith('HTTP/1.1'));
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * Starts versitygw on a free loopback port over a fresh directory (or `dir`).
 * Resolves when it answers HTTP. `stop()` ends it and removes the directory
 * it created.
 */
export async function startServer(options = {}) {
  const exe = installServer();
  const made = options.dir === undefined;
  const dataRoot = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-s3-'));
  fs.mkdirSync(dataRoot, { recursive: true });
  const port = options.port ?? (await freePort());
  const logFile = path.join(dataRoot, '..', `${path.basename(dataRoot)}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(
    exe,
    [
      '--access',
      ACCESS_KEY,
      '--secret',
      SECRET_KEY,
      '--region',
      REGION,
      '--port',
      `${HOST}:${port}`,
      '--quiet',
      'posix',
      dataRoot,
    ],
    {
      stdio: ['ignore', out, out],
      detached: false,
    },
  );
  fs.closeSync(out);
  let exited = null;
  child.once('exit', (code, signal) => (exited = { code, signal }));
  const deadline = Date.now() + 30_000;
  while (!(await answers(port))) {
    if (exited !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(
        `versitygw did not start on ${HOST}:${port} (${exited ? `exited ${JSON.stringify(exited)}` : 'no answer in 30 s'}):\n${tail}`,
      );
    }
    await sleep(100);
  }
  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    if (made) fs.rmSync(dataRoot, { recursive: true, force: true });
    fs.rmSync(logFile, { force: true });
  };
  return {
    endpoint: `http://${HOST}:${port}`,
    port,
    root: dataRoot,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    region: REGION,
    pid: child.pid,
    stop,
  };
}

async function main() {
  const [cmd] = process.argv.slice(2);
  if (cmd === 'install') {
    process.stdout.write(`${installServer()}\n`);
  } else if (cmd === 'start') {
    const s = await startServer({
      dir: process.env.S3_DIR,
      port: process.env.S3_PORT ? Number(process.env.S3_PORT) : undefined,
    });
    process.stdout.write(
      `AWS_ENDPOINT_URL=${s.endpoint}\nAWS_REGION=${s.region}\nAWS_ACCESS_KEY_ID=${s.accessKey}\nAWS_SECRET_ACCESS_KEY=${s.secretKey}\n# data in ${s.root}; Ctrl-C stops\n`,
    );
    const end = () => s.stop().then(() => process.exit(0));
    process.once('SIGINT', end);
    process.once('SIGTERM', end);
  } else {
    process.stderr.write('usage: node scripts/s3/s3.mjs install|start\n');
    process.exit(2);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    log(e.message);
    process.exit(1);
  });
}
