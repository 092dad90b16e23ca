#!/usr/bin/env node
// A real, single-node Apache Kafka broker (KRaft mode) for tests and CI,
// run from Maven Central jars: no Docker, no Kafka download site.
//
//   node scripts/kafka/kafka.mjs fetch        gather the broker's jars into .kafka/libs-<version> (once)
//   node scripts/kafka/kafka.mjs start        start a broker in the background, wait until it serves
//   node scripts/kafka/kafka.mjs stop [--all] stop it (or every broker this script started) and wipe its data
//   node scripts/kafka/kafka.mjs status       say which brokers this script has running
//
// KAFKA_VERSION (default 3.9.1) picks the Apache Kafka release: one of the
// scripts/kafka/pom-<version>.xml files (3.9.1, and 4.4.0, the newest 4.x on
// Maven Central on 2026-12-01). 3.x logs with reload4j, 4.x with log4j2.
// KAFKA_PORT (default 9092) is the client port, KAFKA_CONTROLLER_PORT (default
// KAFKA_PORT + 1) the KRaft controller's. Each broker lives in
// .kafka/broker-<port>/ (config, data, log, pid), so brokers on different
// ports do not meet. `start` prints the bootstrap address on stdout; all other
// output goes to stderr. Built-ins only, except kafkajs from node_modules for
// the readiness check. See docs/DEVELOPMENT.md.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const STARTED_LINE = 'Kafka Server started';
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const home = path.join(root, '.kafka');
const DEFAULT_VERSION = '3.9.1';

class UsageError extends Error {}

/** The Kafka releases this script has a dependency list (pom-<version>.xml) for. */
function supportedVersions() {
  return fs
    .readdirSync(here)
    .map((n) => /^pom-(\d+\.\d+\.\d+)\.xml$/.exec(n)?.[1])
    .filter((v) => v !== undefined)
    .sort();
}

/**
 * The release KAFKA_VERSION asks for, with its pom, its jars' directory and
 * its logging flavour: Kafka 4 replaced reload4j (log4j 1 syntax) with log4j2.
 */
function kafkaVersion() {
  const version = (process.env.KAFKA_VERSION ?? '').trim() || DEFAULT_VERSION;
  const supported = supportedVersions();
  if (!supported.includes(version)) {
    throw new UsageError(
      `KAFKA_VERSION=${version} is not supported; supported: ${supported.join(', ')} (scripts/kafka/pom-<version>.xml)`,
    );
  }
  return {
    version,
    pom: path.join(here, `pom-${version}.xml`),
    libs: path.join(home, `libs-${version}`),
    log4j2: Number(version.split('.')[0]) >= 4,
  };
}
/** Set by main() from KAFKA_VERSION before any command runs. */
let kv;

const log = (msg) => process.stderr.write(`kafka: ${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

function ports() {
  const port = envInt('KAFKA_PORT', 9092);
  const controllerPort = envInt('KAFKA_CONTROLLER_PORT', port + 1);
  for (const p of [port, controllerPort]) if (p > 65535) throw new UsageError(`port ${p} is out of range`);
  if (port === controllerPort) throw new UsageError('KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ');
  return { port, controllerPort };
}

/** Where one broker's files live. */
function instance(port) {
  const dir = path.join(home, `broker-${port}`);
  return {
    port,
    dir,
    data: path.join(dir, 'data'),
    props: path.join(dir, 'server.properties'),
    log4j: path.join(dir, kv.log4j2 ? 'log4j2.properties' : 'log4j.properties'),
    toolsLog4j: path.join(dir, kv.log4j2 ? 'tools-log4j2.properties' : 'tools-log4j.properties'),
    versionFile: path.join(dir, 'kafka.version'),
    log: path.join(dir, 'kafka.log'),
    pidFile: path.join(dir, 'kafka.pid'),
  };
}

function instances() {
  let names = [];
  try {
    names = fs.readdirSync(home);
  } catch {
    return [];
  }
  return names
    .map((n) => /^broker-(\d+)$/.exec(n))
    .filter((m) => m !== null)
    .map((m) => instance(Number(m[1])))
    .sort((a, b) => a.port - b.port);
}

// ---------------------------------------------------------------- processes

/** True while `pid` exists and is not a zombie (a detached broker is reaped by whoever adopted it). */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

/**
 * The pid of the broker this script started for `inst`, or null. A pid file
 * alone is not trusted: the process must still be a kafka.Kafka JVM running
 * this instance's server.properties, so a recycled pid is never signalled.
 */
function brokerPid(inst) {
  let pid;
  try {
    pid = Number(fs.readFileSync(inst.pidFile, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.includes('kafka.Kafka') || !argv.includes(inst.props)) return null;
  } catch {
    // No procfs: the pid file and a live process are all there is to go on.
  }
  return pid;
}

/** The Kafka version an instance was started with (instances from before KAFKA_VERSION ran 3.9.1). */
function runningVersion(inst) {
  try {
    return fs.readFileSync(inst.versionFile, 'utf8').trim();
  } catch {
    return DEFAULT_VERSION;
  }
}

async function waitForExit(pid, ms) {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
function portInUse(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(true); // something holds it but does not answer: not free either
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- tools

function findJava() {
  const candidates = [];
  if (process.env.JAVA_HOME) candidates.push(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  candidates.push('java');
  for (const java of candidates) {
    const r = spawnSync(java, ['-version'], { encoding: 'utf8' });
    if (r.status === 0) return java;
  }
  throw new Error('no Java runtime found (need JDK/JRE 17+ as `java` on PATH or under JAVA_HOME)');
}

function javaClasspath() {
  return path.join(kv.libs, '*');
}

/** The JVM flag that points this version's logging at `file`. */
function logConfigFlag(file) {
  return kv.log4j2 ? `-Dlog4j2.configurationFile=${file}` : `-Dlog4j.configuration=file:${file}`;
}

/** Runs a Kafka tool class to completion; returns its stdout (its logging goes to stderr). */
function runJavaTool(java, args, inst) {
  const r = spawnSync(java, ['-Xmx256m', logConfigFlag(inst.toolsLog4j), '-cp', javaClasspath(), ...args], {
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(`\`java ${args.join(' ')}\` failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------- fetch

const fingerprint = () => createHash('sha256').update(fs.readFileSync(kv.pom)).digest('hex');
const fetchedMarker = (dir) => path.join(dir, '.fetched');

function isFetched() {
  try {
    return fs.readFileSync(fetchedMarker(kv.libs), 'utf8').trim() === fingerprint();
  } catch {
    return false;
  }
}

/** Gathers the broker's runtime jars into .kafka/libs-<version>; does nothing when they are there for this pom. */
function fetchJars() {
  if (isFetched()) {
    log(`jars already in ${path.relative(root, kv.libs)}`);
    return;
  }
  const mvn = spawnSync('mvn', ['--version'], { encoding: 'utf8' });
  if (mvn.status !== 0)
    throw new Error('Maven (`mvn`) is needed to fetch the Kafka broker jars and was not found on PATH');
  fs.mkdirSync(home, { recursive: true });
  // Gather into a private directory and rename it into place, so a failed or
  // concurrent fetch never leaves a half set that looks complete.
  const tmp = `${kv.libs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const began = Date.now();
  log(`fetching Apache Kafka ${kv.version} broker jars with Maven ...`);
  const r = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      kv.pom,
      'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    // Quiet Maven still writes colour codes to stdout: keep its output for a failure.
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `Maven could not fetch the Kafka broker jars (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`,
    );
  }
  const jars = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar'));
  if (!jars.some((f) => /^kafka_2\.13-.*\.jar$/.test(f))) {
    throw new Error(`Maven finished but ${tmp} holds no kafka_2.13 jar`);
  }
  fs.writeFileSync(fetchedMarker(tmp), `${fingerprint()}\n`);
  fs.rmSync(kv.libs, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, kv.libs);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!isFetched()) throw e; // another fetch won the race: fine
  }
  log(
    `fetched ${jars.length} jars into ${path.relative(root, kv.libs)} in ${((Date.now() - began) / 1000).toFixed(1)} s`,
  );
}

// ---------------------------------------------------------------- start

function serverProperties(inst, controllerPort) {
  return `# Written by scripts/kafka/kafka.mjs: a single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${HOST}:${controllerPort}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://${HOST}:${inst.port},CONTROLLER://${HOST}:${controllerPort}
advertised.listeners=PLAINTEXT://${HOST}:${inst.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${inst.data}

# One node: every replication factor and ISR is 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

# Fast, predictable tests: internal topics with one partition (created in a
# blink), no delay before the first rebalance, topics only when asked for, and
# session timeouts down to 1 s so crash/rebalance tests need not wait 6 s.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# The same for KIP-848 consumer groups (Kafka 4; the broker sets their
# session and heartbeat times): 45 s / 5 s by default, which made a SIGKILLed
# member hold its partitions for 45 s and every assignment wait a heartbeat.
group.consumer.min.session.timeout.ms=1000
group.consumer.session.timeout.ms=6000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=500
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1

# A 2-core machine shared with the tests.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
`;
}

/**
 * Logging configuration: the broker logs everything to stdout, which is its
 * log file; the tools (StorageTool) log warnings to stderr, so their stdout
 * is only their answer (a cluster id).
 */
function loggingConfig(forTools) {
  if (kv.log4j2) {
    return `# Written by scripts/kafka/kafka.mjs (log4j2, Kafka 4): ${forTools ? "warnings to stderr; stdout is the tool's answer" : "everything to stdout, which is the broker's log file"}.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = ${forTools ? 'SYSTEM_ERR' : 'SYSTEM_OUT'}
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${forTools ? 'WARN' : 'INFO'}
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
`;
  }
  return `# Written by scripts/kafka/kafka.mjs (log4j 1 syntax, reload4j): ${forTools ? 'warnings to stderr' : "everything to stdout, which is the broker's log file"}.
log4j.rootLogger=${forTools ? 'WARN' : 'INFO'}, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.Target=${forTools ? 'System.err' : 'System.out'}
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
`;
}

/**
 * A KRaft cluster id is a UUID in URL-safe base64 without padding: 22
 * characters. Anything else on the tool's stdout (Kafka 4's log4j2 once
 * printed its configuration warnings there) must not become `cluster.id`.
 */
function checkClusterId(out) {
  const id = out.trim();
  if (!/^[A-Za-z0-9_-]{22}$/.test(id)) {
    throw new Error(
      `StorageTool random-uuid printed something other than a cluster id (22 base64url characters):\n${out}`,
    );
  }
  return id;
}

function loadKafkajs() {
  try {
    return createRequire(path.join(root, 'package.json'))('kafkajs');
  } catch {
    return null;
  }
}

/**
 * One readiness probe: the broker answers describeCluster, and its group
 * coordinator is up. The first FindCoordinator creates __consumer_offsets;
 * doing it here, not in the first test, makes "ready" mean ready for consumer
 * groups.
 */
async function probe(kafkajs, port) {
  const kafka = new kafkajs.Kafka({
    clientId: 'tidemark-kafka-script',
    brokers: [`${HOST}:${port}`],
    logLevel: kafkajs.logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no brokers in metadata');
    await admin.describeGroups(['tidemark-kafka-readiness']);
    return cluster;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Waits until the broker logged its start line and answers kafkajs; throws early if it exits. */
async function waitReady(inst, pid, began, timeoutMs) {
  const deadline = began + timeoutMs;
  const kafkajs = loadKafkajs();
  if (!kafkajs) log('kafkajs is not installed (run `npm ci`): readiness is judged by the log and the port only');
  let started = false;
  let lastError;
  while (Date.now() < deadline) {
    if (!isAlive(pid))
      throw new Error(`the broker exited during start-up; last lines of ${inst.log}:\n${tail(inst.log)}`);
    if (!started) {
      started = fs.existsSync(inst.log) && fs.readFileSync(inst.log, 'utf8').includes(STARTED_LINE);
    }
    if (started) {
      try {
        if (kafkajs) await probe(kafkajs, inst.port);
        else if (!(await portInUse(inst.port))) throw new Error('port not open');
        return;
      } catch (e) {
        lastError = e;
      }
    }
    await sleep(started ? 250 : 100);
  }
  throw new Error(
    `the broker was not ready within ${timeoutMs} ms (${started ? `logged "${STARTED_LINE}" but kafkajs got: ${lastError?.message}` : `never logged "${STARTED_LINE}"`}); last lines of ${inst.log}:\n${tail(inst.log)}`,
  );
}

async function start() {
  const { port, controllerPort } = ports();
  const inst = instance(port);
  const timeoutMs = envInt('KAFKA_START_TIMEOUT_MS', 120_000);
  const running = brokerPid(inst);
  if (running) {
    const have = runningVersion(inst);
    if (have !== kv.version) {
      throw new Error(
        `a Kafka ${have} broker started by this script already serves ${HOST}:${port}; KAFKA_VERSION asks for ${kv.version}: stop it first or pick another KAFKA_PORT`,
      );
    }
    await waitReady(inst, running, Date.now(), timeoutMs);
    log(`a Kafka ${have} broker started by this script already serves ${HOST}:${port} (pid ${running})`);
    process.stdout.write(`${HOST}:${port}\n`);
    return;
  }
  for (const [p, name] of [
    [port, 'KAFKA_PORT'],
    [controllerPort, 'KAFKA_CONTROLLER_PORT'],
  ]) {
    if (await portInUse(p)) {
      throw new Error(`${HOST}:${p} is in use by a process this script did not start; pick another port with ${name}`);
    }
  }
  fetchJars();
  const java = findJava();
  const began = Date.now();

  // A fresh instance every time: data from a crashed run is never reused.
  fs.rmSync(inst.dir, { recursive: true, force: true });
  fs.mkdirSync(inst.data, { recursive: true });
  fs.writeFileSync(inst.props, serverProperties(inst, controllerPort));
  fs.writeFileSync(inst.log4j, loggingConfig(false));
  fs.writeFileSync(inst.toolsLog4j, loggingConfig(true));
  fs.writeFileSync(inst.versionFile, `${kv.version}\n`);

  const clusterId = checkClusterId(runJavaTool(java, ['kafka.tools.StorageTool', 'random-uuid'], inst));
  runJavaTool(java, ['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', inst.props], inst);
  const formatted = Date.now();

  const heap = (process.env.KAFKA_HEAP_OPTS ?? '-Xms256m -Xmx512m').split(/\s+/).filter(Boolean);
  const out = fs.openSync(inst.log, 'w');
  const child = spawn(
    java,
    [
      ...heap,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      '-Djava.awt.headless=true',
      logConfigFlag(inst.log4j),
      `-Dkafka.logs.dir=${inst.dir}`,
      '-cp',
      javaClasspath(),
      'kafka.Kafka',
      inst.props,
    ],
    // Detached, in its own process group, with its output in a file (not a
    // pipe to us): it outlives this script and a Ctrl-C meant for a parent.
    { cwd: inst.dir, detached: true, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  child.unref();
  fs.writeFileSync(inst.pidFile, `${child.pid}\n`);

  try {
    await waitReady(inst, child.pid, began, timeoutMs);
  } catch (e) {
    process.kill(child.pid, 'SIGKILL');
    await waitForExit(child.pid, 5000);
    throw e;
  }
  const owner = process.env.KAFKA_OWNER_PID;
  if (owner) spawnWatchdog(inst, child.pid, Number(owner));
  const now = Date.now();
  log(
    `Kafka ${kv.version} broker ${HOST}:${port} (controller ${controllerPort}, pid ${child.pid}) ready in ${((now - began) / 1000).toFixed(1)} s ` +
      `(storage format ${((formatted - began) / 1000).toFixed(1)} s, start-up ${((now - formatted) / 1000).toFixed(1)} s); log: ${path.relative(root, inst.log)}`,
  );
  process.stdout.write(`${HOST}:${port}\n`);
}

// ---------------------------------------------------------------- watchdog

/**
 * With KAFKA_OWNER_PID set (the test run's globalSetup sets it), a small
 * detached process stops the broker once its owner is gone, so a test run
 * that is killed does not leave a JVM behind.
 */
function spawnWatchdog(inst, brokerPidValue, ownerPid) {
  if (!Number.isInteger(ownerPid) || ownerPid <= 0)
    throw new UsageError(`KAFKA_OWNER_PID must be a pid, got "${ownerPid}"`);
  const w = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), 'watch', String(inst.port), String(brokerPidValue), String(ownerPid)],
    {
      detached: true,
      stdio: 'ignore',
    },
  );
  w.unref();
}

async function watch(port, watchedPid, ownerPid) {
  const inst = instance(port);
  for (;;) {
    if (brokerPid(inst) !== watchedPid) return; // stopped, or replaced by another start
    if (!isAlive(ownerPid)) {
      await stopInstance(inst);
      return;
    }
    await sleep(1000);
  }
}

// ---------------------------------------------------------------- stop, status

async function stopInstance(inst) {
  const pid = brokerPid(inst);
  if (pid) {
    const began = Date.now();
    process.kill(pid, 'SIGTERM');
    const graceMs = envInt('KAFKA_STOP_TIMEOUT_MS', 30_000);
    if (!(await waitForExit(pid, graceMs))) {
      log(`broker on port ${inst.port} (pid ${pid}) still running ${graceMs} ms after SIGTERM: SIGKILL`);
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 10_000);
    }
    log(`stopped broker ${HOST}:${inst.port} (pid ${pid}) in ${((Date.now() - began) / 1000).toFixed(1)} s`);
  } else {
    log(`no broker started by this script is running on port ${inst.port}`);
  }
  fs.rmSync(inst.dir, { recursive: true, force: true });
}

async function stop(all) {
  if (all) {
    for (const inst of instances()) await stopInstance(inst);
    return;
  }
  await stopInstance(instance(ports().port));
}

function status() {
  const { port } = ports();
  let selectedRunning = false;
  const known = instances();
  if (!known.some((i) => i.port === port)) known.unshift(instance(port));
  for (const inst of known) {
    const pid = brokerPid(inst);
    if (inst.port === port) selectedRunning = pid !== null;
    const state = pid
      ? `running Kafka ${runningVersion(inst)} (pid ${pid}), log ${path.relative(root, inst.log)}`
      : fs.existsSync(inst.dir)
        ? 'not running (stale files)'
        : 'not running';
    process.stdout.write(`${HOST}:${inst.port} ${state}\n`);
  }
  process.stdout.write(
    `Kafka ${kv.version} jars: ${isFetched() ? `fetched (${path.relative(root, kv.libs)})` : 'not fetched'}\n`,
  );
  return selectedRunning ? 0 : 3;
}

// ---------------------------------------------------------------- main

const USAGE = `usage: node scripts/kafka/kafka.mjs <fetch|start|stop [--all]|status>
env: KAFKA_VERSION (${DEFAULT_VERSION}; or 4.4.0), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT + 1), KAFKA_HEAP_OPTS (-Xms256m -Xmx512m),
     KAFKA_START_TIMEOUT_MS (120000), KAFKA_STOP_TIMEOUT_MS (30000), KAFKA_OWNER_PID (stop the broker when it exits)`;

async function main(argv) {
  const [command, ...rest] = argv;
  kv = kafkaVersion();
  switch (command) {
    case 'fetch':
      fetchJars();
      return 0;
    case 'start':
      await start();
      return 0;
    case 'stop':
      await stop(rest.includes('--all'));
      return 0;
    case 'status':
      return status();
    case 'watch':
      await watch(Number(rest[0]), Number(rest[1]), Number(rest[2]));
      return 0;
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${command ?? ''}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    log(e instanceof UsageError ? `${e.message}\n${USAGE}` : `error: ${e.message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
