// The group chaos test (issue 8): consumer processes in one group on a real
// broker, sharing a checkpoint location, each with its own state directory,
// driven through a seeded schedule of SIGKILLs, SIGTERMs (one during a
// handler's retry backoff), starts, a scale 1 -> 3 -> 1, a lost disk and a
// deletion of the log head, while records are produced. At the end one
// member catches up alone, and its state must equal the reference model
// exactly, the group's offsets the log end, and every SIGTERM must have ended
// its process within `termBoundMs`.
//
// Used by test/kafka/group-chaos.test.ts and scripts/chaos.ts; no vitest here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { CheckpointRepository, StateStore } from '../../src/index.js';
import { openCheckpointStorage } from './checkpoint-location.js';
import { Member } from './member.js';
import { chaosSchedule, type Step } from './schedule.js';
import { chaosRecord, referenceState, toMessage, type Session, type WorkloadOptions } from './workload.js';

export interface ChaosOptions {
  brokers: string[];
  seed: number;
  /** Length of the churn phase (faults while producing), ms. */
  churnMs: number;
  /** Records produced during the churn phase. */
  records: number;
  partitions?: number;
  /** Member slots (the group scales 1 -> slots -> 1); at least 3. */
  slots?: number;
  /** Checkpoint location shared by the members: a path or `s3://bucket/prefix`; default `<dir>/checkpoints`. */
  checkpoints?: string;
  /** Run directory (state directories, logs); default a new one under the OS temp dir. */
  dir?: string;
  /** A SIGTERM must end its process within this long; default 10 s. */
  termBoundMs?: number;
  /** The last member must catch up within this long once alone; default 60 s. */
  catchUpTimeoutMs?: number;
  /** Period of each member's TTL sweep, ms; default 300; 0 turns sweeps off (expiry on read only), to tell sweep bugs from others. */
  sweepIntervalMs?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  dir: string;
  topic: string;
  group: string;
  /** Everything that broke a promise; empty when the run passed. */
  findings: string[];
  /** SIGTERM to exit of every stop, ms. */
  termTimesMs: number[];
  steps: Step[];
  counts: Record<string, number>;
}

const TTL_MS = 20_000; // event time
const STEP_MS = 50; // event time between records

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one chaos run; never throws for what it finds (see `findings`), only for a broken harness. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const slots = Math.max(3, o.slots ?? 3);
  const partitions = o.partitions ?? 6;
  const termBoundMs = o.termBoundMs ?? 10_000;
  const catchUpTimeoutMs = o.catchUpTimeoutMs ?? 60_000;
  const log = o.log ?? (() => undefined);
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `tm-chaos-${o.seed}-`));
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const checkpoints = o.checkpoints ?? path.join(dir, 'checkpoints');
  const id = randomUUID().slice(0, 8);
  const topic = `tm-chaos-${o.seed}-${id}`;
  const group = `tm-chaos-${o.seed}-${id}`;
  const { steps, keeper } = chaosSchedule({ seed: o.seed, churnMs: o.churnMs, slots });
  const findings: string[] = [];
  const termTimesMs: number[] = [];
  const counts: Record<string, number> = {
    starts: 0,
    kills: 0,
    terms: 0,
    lostDisks: 0,
    termsInBackoff: 0,
    headDeletions: 0,
    selfExits: 0,
  };
  const journal = fs.createWriteStream(path.join(dir, 'journal.log'));
  const t0 = Date.now();
  const note = (line: string) => {
    const l = `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s ${line}`;
    journal.write(`${l}\n`);
    log(l);
  };
  const find = (what: string) => {
    findings.push(what);
    note(`FINDING ${what.split('\n')[0]}`);
  };
  note(
    `seed ${o.seed}, topic ${topic}, ${partitions} partitions, ${o.records} records over ${o.churnMs} ms, checkpoints ${checkpoints}, run dir ${dir}`,
  );
  note(
    `schedule (keeper m${keeper}): ${steps.map((s) => ('slot' in s ? `${s.do}(m${s.slot})` : s.do === 'wait' ? `${s.ms}` : s.do)).join(' ')}`,
  );

  const kafka = new Kafka({
    clientId: 'tidemark-chaos',
    brokers: o.brokers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const members = new Map<number, Member>();
  const incarnations = new Map<number, number>();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    });
    // kafkajs 2.2.4's deleteTopicRecords looks leaders up in the admin's
    // metadata cache before refreshing it: without this, "Could not find the
    // leader for the partition".
    await admin.fetchTopicMetadata({ topics: [topic] });
    const workload: WorkloadOptions = {
      seed: o.seed,
      baseTs: Math.floor(Date.now() / 1000) * 1000 - 2 * 3600_000,
      stepMs: STEP_MS,
      keys: 300,
      failEvery: 600,
    };

    // ------------------------------------------------------------ members
    const memberEnv = (slot: number): Record<string, string> => ({
      KAFKA_BROKERS: o.brokers.join(','),
      TOPIC: topic,
      GROUP_ID: group,
      MEMBER: `m${slot}`,
      STATE_DIR: path.join(dir, `state-m${slot}`),
      CHECKPOINTS: checkpoints,
      TTL_MS: String(TTL_MS),
      SWEEP_INTERVAL_MS: String(o.sweepIntervalMs ?? 300),
      CACHE_ENTRIES: '200',
      BACKOFF_MS: '1000',
      CHECKPOINT_INTERVAL_MS: '1500',
    });
    const start = (slot: number): Member => {
      const running = members.get(slot);
      if (running?.running) return running;
      const inc = (incarnations.get(slot) ?? 0) + 1;
      incarnations.set(slot, inc);
      const m = new Member(slot, inc, logDir, memberEnv(slot));
      members.set(slot, m);
      counts.starts!++;
      note(`start ${m.name} (pid ${m.proc.pid})`);
      void m.exited.then((e) => {
        if (m.expectedExit) return;
        counts.selfExits!++;
        const why = m.lines.filter((l) => /^(FAILED|DONE_FAILED|STOP_FAILED)/.test(l)).slice(0, 3);
        find(
          `${m.name} exited by itself (code ${e.code}, signal ${e.signal}): ${why.join(' | ') || '(no FAILED line)'}\n  log ${m.logFile}\n${indent(m.tail(15))}`,
        );
        revive.add(slot);
      });
      return m;
    };
    const kill = async (m: Member): Promise<void> => {
      m.expectedExit = true;
      m.kill('SIGKILL');
      await m.exited;
      counts.kills!++;
      note(`SIGKILL ${m.name}`);
    };
    const term = async (m: Member, why: string): Promise<void> => {
      m.expectedExit = true;
      const began = Date.now();
      // pipeline.start() resolves once the group is joined: a SIGTERM before it lands during start-up.
      const phase = m.lines.some((l) => l.startsWith('STARTED ')) ? 'running' : 'starting';
      m.kill('SIGTERM');
      const exit = await Promise.race([m.exited, sleep(termBoundMs).then(() => undefined)]);
      counts.terms!++;
      if (exit === undefined) {
        termTimesMs.push(Number.POSITIVE_INFINITY);
        find(
          `SIGTERM (${why}, while ${phase}) did not end ${m.name} within ${termBoundMs} ms (pid ${m.proc.pid}); it printed STOPPED: ${m.lines.includes('STOPPED')}\n  log ${m.logFile}\n${indent(m.tail(20))}`,
        );
        m.kill('SIGKILL');
        await m.exited;
        return;
      }
      const ms = exit.at - began;
      termTimesMs.push(ms);
      note(`SIGTERM ${m.name} (${why}, while ${phase}): exited in ${ms} ms (code ${exit.code}, signal ${exit.signal})`);
      if (exit.code !== 0 && exit.signal !== 'SIGTERM') {
        find(
          `${m.name} exited with code ${exit.code} after SIGTERM (${why})\n  log ${m.logFile}\n${indent(m.tail(15))}`,
        );
      }
    };
    const revive = new Set<number>();
    const running = () => [...members.values()].filter((m) => m.running);

    // ------------------------------------------------------------ producer
    let produced = 0;
    const producing = (async () => {
      const batch = 100;
      const pace = (o.churnMs * 0.85) / Math.ceil(o.records / batch);
      while (produced < o.records) {
        const n = Math.min(batch, o.records - produced);
        const messages = Array.from({ length: n }, (_, j) => toMessage(chaosRecord(produced + j, workload)));
        const began = Date.now();
        await producer.send({ topic, messages, acks: -1 });
        produced += n;
        await sleep(Math.max(0, pace - (Date.now() - began)));
      }
    })();

    // ------------------------------------------------------------ log head
    let headPending = false;
    const deleteHead = async (): Promise<boolean> => {
      const repo = new CheckpointRepository({ storage: openCheckpointStorage(checkpoints) });
      try {
        const valid = (await repo.list()).filter((c) => c.status === 'valid');
        const floor = new Map<number, bigint>();
        for (const c of valid) {
          for (const p of c.partitions) {
            if (p.topic !== topic || p.offset === null) continue;
            const off = BigInt(p.offset);
            if (!floor.has(p.partition) || off < floor.get(p.partition)!) floor.set(p.partition, off);
          }
        }
        if (floor.size < partitions || [...floor.values()].some((f) => f === 0n)) {
          note(`delete-head postponed: valid checkpoints hold ${floor.size} of ${partitions} partitions past 0`);
          return false;
        }
        const to = [...floor].map(([partition, offset]) => ({ partition, offset: offset.toString() }));
        await admin.deleteTopicRecords({ topic, partitions: to });
        counts.headDeletions!++;
        note(
          `delete-head: log start now ${to.map((t) => `${t.partition}:${t.offset}`).join(' ')} (min over ${valid.length} valid checkpoints)`,
        );
        return true;
      } finally {
        await repo.close();
      }
    };

    // ------------------------------------------------------------ churn
    for (const step of steps) {
      switch (step.do) {
        case 'start':
          start(step.slot);
          break;
        case 'kill': {
          const m = members.get(step.slot);
          if (m?.running) await kill(m);
          break;
        }
        case 'term': {
          const m = members.get(step.slot);
          if (m?.running) await term(m, 'scheduled');
          break;
        }
        case 'lose-disk': {
          const m = members.get(step.slot);
          if (m?.running) await kill(m);
          fs.rmSync(path.join(dir, `state-m${step.slot}`), { recursive: true, force: true });
          counts.lostDisks!++;
          note(`lost disk of m${step.slot}`);
          start(step.slot);
          break;
        }
        case 'term-in-backoff': {
          const candidates = running();
          const hit = await Promise.race(
            candidates.map((m) =>
              m.next(/^HANDLER_FAILED (\d+) (\d+) attempt=(\d+)/, 20_000).then((r) => (r ? { m, r } : undefined)),
            ),
          );
          if (hit === undefined) {
            note('term-in-backoff: no handler failure within 20 s');
            break;
          }
          counts.termsInBackoff!++;
          await term(hit.m, `in backoff after failure at ${hit.r[1]}@${hit.r[2]}`);
          revive.add(hit.m.slot);
          break;
        }
        case 'delete-head':
          headPending = !(await deleteHead());
          break;
        case 'wait':
          await sleep(step.ms);
          if (headPending) headPending = !(await deleteHead());
          for (const slot of revive) start(slot);
          revive.clear();
          break;
      }
    }
    await producing;
    note(`produced ${produced} records`);
    if (headPending && !(await deleteHead()))
      find('the log head was never deleted: no valid checkpoints held every partition past offset 0');
    if (counts.termsInBackoff === 0)
      find('no SIGTERM landed during a retry backoff (no handler failure seen when it was due)');

    // ------------------------------------------------------------ scale to one
    for (const m of running()) if (m.slot !== keeper) await term(m, 'scale down');
    revive.clear();
    let last = start(keeper);
    note(`alone: ${last.name}`);
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((t) => [t.partition, t.high]));
    const total = [...ends.values()].reduce((a, b) => a + Number(b), 0);
    if (total !== o.records)
      find(`the log holds ${total} records, ${o.records} were produced: duplicates or losses in production`);
    const groupOffsets = async () => {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return new Map((t?.partitions ?? []).map((p) => [p.partition, p.offset]));
    };
    const caughtUp = (g: Map<number, string>) => [...ends].every(([p, end]) => g.get(p) === end);
    // Caught up: it owns every partition, has reported each at the log end
    // (recovered there or committed there), and so has the group.
    const alone = () => {
      const pos = last.positions();
      return [...ends].every(([p, end]) => pos.get(p) === end);
    };
    const deadline = Date.now() + catchUpTimeoutMs;
    while (!alone() && Date.now() < deadline) {
      if (!last.running) last = start(keeper); // its exit is a finding already
      await sleep(250);
    }
    let g = await groupOffsets();
    if (!alone()) {
      const pos = last.positions();
      find(
        `stall: the last member did not catch up within ${catchUpTimeoutMs} ms alone (partition: member's offset, group's offset / log end): ` +
          `${[...ends].map(([p, end]) => `${p}: ${pos.get(p) ?? 'not owned'}, ${g.get(p)} / ${end}`).join('; ')}\n  log ${last.logFile}\n${indent(last.tail(30))}`,
      );
    } else {
      note(`caught up: ${[...ends].map(([p, end]) => `${p}:${end}`).join(' ')}`);
      // Its state is at the log end: the group's offsets must follow within a commit interval or so.
      const groupDeadline = Date.now() + 10_000;
      while (!caughtUp(g) && Date.now() < groupDeadline) {
        await sleep(250);
        g = await groupOffsets();
      }
      if (!caughtUp(g)) {
        find(
          `group offsets behind the state: the last member holds every partition at the log end, but 10 s later the group's committed offsets are ` +
            `${[...ends].map(([p, end]) => `${p}:${g.get(p)}/${end}`).join(' ')}\n  log ${last.logFile}\n${indent(last.tail(12))}`,
        );
      }
    }
    if (last.running) await term(last, 'final');

    // ------------------------------------------------------------ verdict
    const g2 = await groupOffsets();
    if (caughtUp(g) && !caughtUp(g2))
      find(
        `group offsets after the final stop ${[...ends].map(([p, end]) => `${p}:${g2.get(p)}/${end}`).join(' ')} are not the log end`,
      );
    const at = chaosRecord(o.records - 1, workload).ts;
    const expected = referenceState(o.records, workload, TTL_MS, at);
    const store = await StateStore.open({
      path: path.join(dir, `state-m${keeper}`),
      readOnly: true,
      clock: { now: () => at },
    });
    try {
      const got = new Map<string, Session & { partition: number }>();
      const offsets: string[] = [];
      for (let p = 0; p < partitions; p++) {
        const off = store.offset(topic, p);
        if (off !== ends.get(p)) offsets.push(`${p}: ${off ?? 'none'} != ${ends.get(p)}`);
        for (const e of store.partition(topic, p).entries<Session>())
          got.set(e.key as string, { ...e.value, partition: p });
      }
      if (offsets.length > 0) find(`state offsets are not the log end: ${offsets.join(', ')}`);
      const diffs: string[] = [];
      for (const [k, want] of expected) {
        const have = got.get(k);
        if (
          have === undefined ||
          have.n !== want.n ||
          have.sum !== want.sum ||
          have.first !== want.first ||
          have.last !== want.last
        ) {
          diffs.push(`${k}: want ${JSON.stringify(want)}, have ${have ? JSON.stringify(have) : 'none'}`);
        }
      }
      for (const [k, have] of got) if (!expected.has(k)) diffs.push(`${k}: want none, have ${JSON.stringify(have)}`);
      if (diffs.length > 0) {
        find(
          `state differs from the reference in ${diffs.length} of ${expected.size} live keys (at event time ${at}):\n${indent(diffs.slice(0, 12).join('\n'))}`,
        );
      } else {
        note(`state exact: ${got.size} live sessions of ${o.records} records`);
      }
    } finally {
      await store.close();
    }
  } finally {
    for (const m of members.values()) {
      if (m.running) {
        m.expectedExit = true;
        m.kill('SIGKILL');
        await m.exited;
      }
    }
    await producer.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    const finite = termTimesMs.filter(Number.isFinite);
    note(
      `done: ${findings.length} finding(s); ${Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}; SIGTERM to exit: ${termTimesMs.length - finite.length} of ${termTimesMs.length} over ${termBoundMs} ms, the others max ${finite.length ? Math.max(...finite) : '-'} ms`,
    );
    await new Promise((r) => journal.end(r));
  }
  return { seed: o.seed, dir, topic, group, findings, termTimesMs, steps, counts };
}

function indent(text: string): string {
  return text.replace(/^/gm, '    ');
}
