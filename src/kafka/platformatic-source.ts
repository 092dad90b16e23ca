import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer, ConsumerOptions, Message, MessagesStream } from '@platformatic/kafka';
import { ConfigError } from '../errors/config-error.js';
import { TopicNotFoundError } from '../errors/topic-not-found-error.js';
import type { HeaderValue, Source, SourceListener, SourceRecord } from '../pipeline/source.js';
import type { PartitionOffset, TopicPartition } from '../util/topic-partition.js';
import { diffAssignment } from './assignment.js';
import { evenCooperativeAssignor } from './even-assignor.js';
import { RecordFence } from './record-fence.js';

/**
 * Further @platformatic/kafka consumer options, passed through as they are.
 * Declared here rather than as the client's own `ConsumerOptions` so that
 * tidemark's published types never import the client's (which need Node 22
 * typings and `@types/debug` to type-check).
 */
export interface PlatformaticConsumerOptions {
  sessionTimeout?: number;
  heartbeatInterval?: number;
  rebalanceTimeout?: number;
  maxWaitTime?: number;
  minBytes?: number;
  maxBytes?: number;
  maxBytesPerPartition?: number;
  highWaterMark?: number;
  [option: string]: unknown;
}

/** The group protocol a {@link PlatformaticSource} joins with. */
export type PlatformaticProtocol = 'cooperative' | 'consumer';

/** Options for {@link PlatformaticSource}. */
export interface PlatformaticSourceOptions {
  /** Bootstrap brokers, e.g. `['127.0.0.1:9092']`. */
  brokers: readonly string[];
  groupId: string;
  topics: readonly string[];
  /** Client id sent to the broker; default "tidemark". */
  clientId?: string;
  /**
   * `'cooperative'` (default): the classic group protocol with the
   * cooperative-sticky assignor (KIP-429), any Kafka >= 2.4. `'consumer'`:
   * the next-generation protocol (KIP-848, `group.protocol=consumer`), Kafka >= 4.0.
   */
  protocol?: PlatformaticProtocol;
  /**
   * Static membership (KIP-345): a member that restarts with the same id
   * within the session timeout gets its partitions back without a
   * rebalance. A static member does not leave the group when stopped.
   */
  groupInstanceId?: string;
  /** Where a partition with no state and no group offset starts; default true (the earliest record). */
  fromBeginning?: boolean;
  /** How long to wait for missing topics at start, in ms (default 600,000); then `start` fails with `TopicNotFoundError`. */
  topicWaitMs?: number;
  /** Most records handed to the pipeline in one batch (default 4,000). */
  maxBatchRecords?: number;
  /**
   * Further @platformatic/kafka consumer options (sessionTimeout,
   * heartbeatInterval, rebalanceTimeout, maxWaitTime, maxBytes...).
   * Defaults here: `maxWaitTime` 250 ms (as for the kafkajs source),
   * `highWaterMark` 8,192 messages, `maxBytesPerPartition` 1 MiB.
   */
  consumer?: PlatformaticConsumerOptions;
}

/** The lowest Node.js @platformatic/kafka 2.x runs on. */
export const PLATFORMATIC_MIN_NODE = '22.22.0';
const DEFAULT_TOPIC_WAIT_MS = 600_000;
const TOPIC_WAIT_NOTICE_MS = 30_000;
const DEFAULT_MAX_BATCH = 4000;
/** Bound of each step of a stop, so a client that hangs cannot hold the process. */
const CLOSE_STEP_MS = 1000;
const EARLIEST = -2n;
const LATEST = -1n;

/**
 * The consumer options this source sets unless `consumer` overrides them
 * (internal; the benchmark's bare client uses the same).
 * - `maxWaitTime` 250 ms (the client's: 5,000), as for the kafkajs source:
 *   a stop or a restart waits out a fetch with nothing to return.
 * - `highWaterMark` 8,192 messages (1,024): the client fetches again once
 *   fewer are buffered; larger batches for the pipeline, fewer wake-ups.
 * - `maxBytesPerPartition` 1 MiB (the client's: `maxBytes`, 50 MB), the Java
 *   consumer's `max.partition.fetch.bytes`: the client otherwise fetches a
 *   partition's whole backlog (up to 50 MB) in one response and decodes it
 *   in one go, holding the event loop for seconds and every decoded
 *   message in memory before the first is handed out (docs/BENCHMARKS.md).
 */
export const PLATFORMATIC_CONSUMER_DEFAULTS = {
  maxWaitTime: 250,
  highWaterMark: 8192,
  maxBytesPerPartition: 1_048_576,
} as const;

/** True when this Node.js can run @platformatic/kafka (>= 22.22). */
export function platformaticSupported(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 22);
}

const tpKey = (topic: string, partition: number) => `${topic}:${partition}`;

/**
 * A consumer-group source on @platformatic/kafka with incremental
 * rebalances: a rebalance revokes only the partitions that move, and
 * partitions a member keeps go on processing (no revoke, no recovery, no
 * pause). Offsets are never auto-committed.
 *
 * - Classic protocol, cooperative-sticky: the client gives up revoked
 *   partitions by rejoining; the rejoin computes its subscription through
 *   `protocolsMetadata`, which this source holds until the pipeline has
 *   committed and checkpointed the revoked partitions. The next owner is
 *   assigned them only after that, so it restores the revoke checkpoint.
 * - KIP-848: the client acknowledges a revocation in its next heartbeat and
 *   runs no hook before it: the hand-over is not held (see docs/RUNBOOK.md).
 *
 * The client has no per-partition seek or pause; a {@link RecordFence}
 * gives them: records of a partition not yet recovered are dropped, and a
 * seek moves the client's fetch position and drops what was fetched before it.
 *
 * @platformatic/kafka needs Node.js >= 22.22: the constructor refuses an
 * older one with a `ConfigError`, and the client is imported only at start,
 * so tidemark itself still loads on Node 20.
 */
export class PlatformaticSource implements Source {
  readonly kind = 'kafka';
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | undefined;
  private admin: Admin | undefined;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private listener: SourceListener | undefined;
  private current: TopicPartition[] = [];
  private joined = false;
  private rebalancing: Promise<void> = Promise.resolve();
  private pumping: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly stopSignal = new AbortController();
  private readonly fence = new RecordFence();
  private wake: () => void = () => undefined;
  private inRebalance = false;
  private revoking = false;
  private readonly deferred = new Map<string, PartitionOffset>();

  constructor(private readonly options: PlatformaticSourceOptions) {
    if (!platformaticSupported()) {
      throw new ConfigError(
        `the @platformatic/kafka source needs Node.js >= ${PLATFORMATIC_MIN_NODE}; this is ${process.version}. ` +
          'Use the kafkajs source (KafkaSource) on this Node.js, or upgrade Node.js.',
      );
    }
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('platformatic source options must be an object');
    if (!Array.isArray(options.brokers) || options.brokers.length === 0)
      throw new ConfigError('"brokers" must be a non-empty array of host:port strings');
    if (typeof options.groupId !== 'string' || options.groupId.length === 0)
      throw new ConfigError('"groupId" must be a non-empty string');
    if (
      !Array.isArray(options.topics) ||
      options.topics.length === 0 ||
      options.topics.some((t) => typeof t !== 'string' || t === '')
    ) {
      throw new ConfigError('"topics" must be a non-empty array of topic names');
    }
    if (options.protocol !== undefined && options.protocol !== 'cooperative' && options.protocol !== 'consumer')
      throw new ConfigError(`"protocol" must be 'cooperative' or 'consumer', got ${String(options.protocol)}`);
    if (
      options.groupInstanceId !== undefined &&
      (typeof options.groupInstanceId !== 'string' || options.groupInstanceId === '')
    )
      throw new ConfigError('"groupInstanceId" must be a non-empty string');
    // KIP-848 static members leave with epoch -2 and rejoin under the same
    // id; @platformatic/kafka 2.12.1 leaves with -1 only, and a restart is
    // refused ("instance ID is still used") until the session times out.
    if (options.groupInstanceId !== undefined && options.protocol === 'consumer')
      throw new ConfigError(
        '"groupInstanceId" works with protocol \'cooperative\' only: @platformatic/kafka cannot leave a KIP-848 group as a static member',
      );
    const wait = options.topicWaitMs;
    if (wait !== undefined && (typeof wait !== 'number' || !Number.isSafeInteger(wait) || wait < 0))
      throw new ConfigError(`"topicWaitMs" must be an integer >= 0, got ${String(wait)}`);
    const max = options.maxBatchRecords;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1))
      throw new ConfigError(`"maxBatchRecords" must be an integer >= 1, got ${String(max)}`);
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    // Imported here, not at the top: tidemark must load on Node 20.
    const { Admin, Consumer, MessagesStreamModes, MessagesStreamFallbackModes, cooperativeStickyAssigner } =
      await import('@platformatic/kafka');
    const base = { clientId: this.options.clientId ?? 'tidemark', bootstrapBrokers: [...this.options.brokers] };
    this.admin = new Admin(base);
    this.admin.on('error', () => undefined); // its calls reject; the event would crash the process
    await this.waitForTopics(listener);
    if (this.stopped) return;
    const cooperative = (this.options.protocol ?? 'cooperative') === 'cooperative';
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...PLATFORMATIC_CONSUMER_DEFAULTS,
      // The client's cooperative-sticky assignor (run by the group leader)
      // can leave a joining member with no partition for good; evened out
      // (docs/DEVELOPMENT.md, @platformatic/kafka 2.12.1).
      ...(cooperative ? { partitionAssigner: evenCooperativeAssignor(cooperativeStickyAssigner) } : {}),
      ...(this.options.consumer as Partial<ConsumerOptions<Buffer, Buffer, Buffer, Buffer>> | undefined),
      ...base,
      groupId: this.options.groupId,
      autocommit: false,
      ...(this.options.groupInstanceId === undefined ? {} : { groupInstanceId: this.options.groupInstanceId }),
      ...(cooperative
        ? {
            groupProtocol: 'classic' as const,
            protocols: [{ name: 'cooperative-sticky', version: 3 }],
            // Called before every (re)join. After a revoke round the client
            // rejoins to give the revoked partitions up; holding this until
            // the pipeline has committed and checkpointed them holds the
            // hand-over (bounded by the rebalance timeout).
            protocolsMetadata: async () => {
              await this.sync();
              return Buffer.alloc(0);
            },
          }
        : { groupProtocol: 'consumer' as const }),
    });
    this.consumer = consumer;
    // The client emits 'error' when a rejoin fails for good (and while it
    // closes): after a stop that is expected; before, the source has failed.
    const failed = (error: Error) => {
      if (!this.stopped) listener.failed(error);
    };
    consumer.on('error', failed);
    const resync = () => void this.sync();
    consumer.on('consumer:group:join', () => {
      this.inRebalance = false;
      resync();
      void this.flushDeferred();
    });
    consumer.on('consumer:group:rebalance', () => {
      this.inRebalance = true;
      resync();
    });
    // KIP-848 assignments change in heartbeat responses, with no join event.
    consumer.on('consumer:heartbeat:end', resync);
    let stream: Awaited<ReturnType<typeof consumer.consume>>;
    try {
      stream = await consumer.consume({
        topics: [...this.options.topics],
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode:
          (this.options.fromBeginning ?? true)
            ? MessagesStreamFallbackModes.EARLIEST
            : MessagesStreamFallbackModes.LATEST,
      });
    } catch (err) {
      // A stop() while joining closes the client under the join, which then
      // fails ("Connection pool is closed"): a stopped start ends quietly,
      // as KafkaSource's does.
      if (!this.stopped) throw err;
      await this.closeClient();
      return;
    }
    this.stream = stream;
    // Before the stop check: a stream closed while it starts may still
    // emit 'error' (its first fetch finds the pool closed), and with no
    // listener that kills the process.
    stream.on('error', failed);
    if (this.stopped) {
      // Stopped while joining: stop() found no stream to close.
      await this.closeClient();
      return;
    }
    // The client re-reads committed offsets for every assigned partition
    // when partitions are added; put kept partitions back where they were.
    stream.on('offsets', () => {
      this.fence.reapply(stream.offsetsToFetch);
      resync();
    });
    // Read in paused mode only: with a 'readable' listener the client's
    // own stream.resume() (after a rebalance) cannot switch the stream to
    // flowing mode, where records would go to nobody.
    stream.on('readable', () => this.wake());
    this.pumping = this.pump(stream, listener);
    await this.sync();
  }

  /** Partitions assigned to this member now. */
  assignment(): TopicPartition[] {
    return [...this.current];
  }

  ready(tp: TopicPartition): void {
    this.fence.ready(tpKey(tp.topic, tp.partition)); // delivered from now on, while others still recover
  }

  seek(tp: TopicPartition, offset: string | 'earliest'): void {
    if (this.stopped || this.stream === undefined) return;
    if (offset === 'earliest') {
      // Resolved asynchronously; records are dropped until it is.
      const k = tpKey(tp.topic, tp.partition);
      this.fence.hold(k);
      void this.logStartOffsets([tp]).then(([o]) => {
        if (o !== undefined && this.fence.isHeld(k)) this.fence.seek(k, BigInt(o.offset), this.stream!.offsetsToFetch);
      });
      return;
    }
    this.fence.seek(tpKey(tp.topic, tp.partition), BigInt(offset), this.stream.offsetsToFetch);
  }

  async logStartOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    return this.logOffsets(tps, EARLIEST);
  }

  async logEndOffsets(tps: readonly TopicPartition[]): Promise<PartitionOffset[]> {
    return this.logOffsets(tps, LATEST);
  }

  private async logOffsets(tps: readonly TopicPartition[], timestamp: bigint): Promise<PartitionOffset[]> {
    if (tps.length === 0) return [];
    const consumer = this.consumer;
    if (consumer === undefined) throw new Error('the Kafka source is not started');
    const topics = [...new Set(tps.map((tp) => tp.topic))];
    const offsets = await consumer.listOffsets({ topics, timestamp });
    return tps.map((tp) => {
      const o = offsets.get(tp.topic)?.[tp.partition];
      if (o === undefined) throw new Error(`no offsets for ${tp.topic}[${tp.partition}]`);
      return { topic: tp.topic, partition: tp.partition, offset: o.toString() };
    });
  }

  async commit(offsets: readonly PartitionOffset[]): Promise<void> {
    if (this.consumer === undefined || this.stopped || offsets.length === 0) return;
    // A commit that reaches the coordinator after the group moved to a new
    // generation fails with ILLEGAL_GENERATION, and the client then drops
    // every partition of this member (kept ones too) and rejoins. Outside a
    // hand-over, offsets committed during a rebalance wait for the join;
    // the state, not the group offset, is where a partition resumes.
    if (this.inRebalance && !this.revoking && this.options.protocol !== 'consumer') {
      for (const o of offsets) this.deferred.set(tpKey(o.topic, o.partition), o);
      return;
    }
    await this.consumer.commit({
      offsets: offsets.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        offset: BigInt(o.offset),
        leaderEpoch: -1,
      })),
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopSignal.abort();
    this.wake();
    // The batch in flight finishes first (the pipeline, stopping, ends it).
    await bounded(this.pumping, CLOSE_STEP_MS * 2);
    await bounded(this.rebalancing, CLOSE_STEP_MS);
    await this.closeClient();
    await this.admin?.close().catch(() => undefined);
  }

  private closing: Promise<void> | undefined;

  private async flushDeferred(): Promise<void> {
    const owned = new Set(this.current.map((tp) => tpKey(tp.topic, tp.partition)));
    const offsets = [...this.deferred.entries()].filter(([k]) => owned.has(k)).map(([, o]) => o);
    this.deferred.clear();
    await this.commit(offsets).catch(() => undefined);
  }

  // Closes the stream, leaves the group (unless static) and closes the
  // connections. A leave that fails (the group is mid-rebalance, the
  // coordinator moved) makes the client's close() fail with its connections
  // still open, and the process would not exit: then close without leaving.
  //
  // Classic protocol: the group is left with leaveGroup() before close().
  // close() alone leaves the client's membership active, so a rejoin in
  // flight (a stop during a rebalance) fails after the close and re-arms
  // the client's heartbeat-stall timer (rebalanceTimeout long) on the closed
  // client: the process outlived stop() by that long. leaveGroup() ends the
  // membership first, which the rejoin checks at each step
  // (docs/DEVELOPMENT.md, @platformatic/kafka 2.12.1).
  private closeClient(): Promise<void> {
    this.closing ??= (async () => {
      const consumer = this.consumer;
      if (consumer === undefined) return;
      await bounded(this.stream?.close() ?? Promise.resolve(), CLOSE_STEP_MS);
      // A static member keeps its place in the group: it does not leave
      // (the client would send a LeaveGroup, which rebalances the group).
      if (this.options.groupInstanceId !== undefined) consumer.memberId = null;
      if ((this.options.protocol ?? 'cooperative') === 'cooperative') {
        // The d.ts lists the callback overload (returning void) first: with
        // no callback, leaveGroup returns a Promise.
        const leave = () => consumer.leaveGroup(true) as unknown as Promise<void>;
        const left = await bounded(leave(), CLOSE_STEP_MS * 3);
        if (left !== 'ok') {
          // With no member id the client ends its membership without a request.
          consumer.memberId = null;
          await bounded(leave(), CLOSE_STEP_MS);
        }
      }
      const closed = await bounded(consumer.close(true), CLOSE_STEP_MS * 3);
      if (closed === 'failed') {
        consumer.memberId = null;
        await bounded(consumer.close(true), CLOSE_STEP_MS);
      }
    })();
    return this.closing;
  }

  // Compares the client's assignment with the last one handed to the
  // pipeline: revoked partitions go first (committed and checkpointed), then
  // the new ones are recovered. Kept partitions are not touched.
  private sync(): Promise<void> {
    this.rebalancing = this.rebalancing.catch(() => undefined).then(() => this.applyAssignment());
    return this.rebalancing;
  }

  private async applyAssignment(): Promise<void> {
    const consumer = this.consumer;
    const listener = this.listener;
    if (consumer === undefined || listener === undefined || this.stopped) return;
    const groups = consumer.assignments;
    if (groups === null) return; // not joined yet
    const next = groups
      .flatMap((g) => g.partitions.map((partition) => ({ topic: g.topic, partition })))
      .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
    const change = diffAssignment(this.current, next);
    if (this.joined && change.assigned.length === 0 && change.revoked.length === 0) return;
    this.current = next;
    for (const tp of change.revoked) this.fence.remove(tpKey(tp.topic, tp.partition));
    if (change.revoked.length > 0) {
      this.revoking = true;
      try {
        await listener.revoked(change.revoked);
      } finally {
        this.revoking = false;
      }
    }
    for (const tp of change.assigned) this.fence.add(tpKey(tp.topic, tp.partition));
    this.joined = true;
    await listener.assigned(change.assigned);
    for (const tp of change.assigned) this.fence.ready(tpKey(tp.topic, tp.partition));
  }

  // Reads what the stream has buffered, in batches of one partition's
  // consecutive records, and hands each to the pipeline in turn.
  private async pump(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, listener: SourceListener): Promise<void> {
    const max = this.options.maxBatchRecords ?? DEFAULT_MAX_BATCH;
    while (!this.stopped) {
      const messages: Array<Message<Buffer, Buffer, Buffer, Buffer>> = [];
      let m: Message<Buffer, Buffer, Buffer, Buffer> | null;
      while (messages.length < max && (m = stream.read() as Message<Buffer, Buffer, Buffer, Buffer> | null) !== null)
        messages.push(m);
      if (messages.length === 0) {
        if (stream.destroyed) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (this.stopped) resolve();
        });
        continue;
      }
      let start = 0;
      for (let i = 1; i <= messages.length; i++) {
        const first = messages[start]!;
        const m = messages[i];
        if (m !== undefined && m.topic === first.topic && m.partition === first.partition) continue;
        await this.deliver(messages, start, i, listener);
        start = i;
      }
    }
  }

  // Hands messages[from, to) (one partition's) to the pipeline, less what
  // the fence drops. The hot path: no copies beyond the records.
  private async deliver(
    messages: ReadonlyArray<Message<Buffer, Buffer, Buffer, Buffer>>,
    from: number,
    to: number,
    listener: SourceListener,
  ): Promise<void> {
    const { topic, partition } = messages[from]!;
    const k = tpKey(topic, partition);
    const offsets: bigint[] = new Array(to - from);
    for (let i = from; i < to; i++) offsets[i - from] = messages[i]!.offset;
    const accepted = this.fence.admit(k, offsets, this.stream!.offsetsToFetch);
    if (accepted.length === 0) return;
    const records: SourceRecord[] = new Array(accepted.length);
    const convert = new RecordConverter();
    for (let i = 0; i < accepted.length; i++) records[i] = convert.record(messages[from + accepted[i]!]!);
    const epoch = this.fence.epoch(k);
    let resolved: bigint | undefined;
    const active = () => !this.stopped && this.fence.epoch(k) === epoch;
    await listener.batch(
      { topic, partition, records },
      {
        // The client heartbeats on its own; this only says whether the
        // partition is still this member's and in place.
        heartbeat: async () => {
          if (!active()) throw new Error(`${topic}[${partition}] was revoked or repositioned`);
        },
        resolve: (offset) => {
          resolved = BigInt(offset);
        },
        isActive: active,
      },
    );
    // Records not resolved are delivered again, as kafkajs does.
    const last = offsets[accepted[accepted.length - 1]!]!;
    if (active() && (resolved === undefined || resolved < last)) {
      const from = resolved === undefined ? offsets[accepted[0]!]! : resolved + 1n;
      this.fence.seek(k, from, this.stream!.offsetsToFetch);
    }
  }

  // Waits for missing topics, saying so now and then (as KafkaSource does).
  private async waitForTopics(listener: SourceListener): Promise<void> {
    const limit = this.options.topicWaitMs ?? DEFAULT_TOPIC_WAIT_MS;
    let started: number | undefined;
    let noticed = -Infinity;
    for (let delay = 100; !this.stopped; delay = Math.min(delay * 2, 2000)) {
      let listed: string[];
      try {
        listed = await this.admin!.listTopics({ includeInternals: false });
      } catch (err) {
        if (this.stopped) return; // the admin was closed by stop()
        throw err;
      }
      // From the first answer: connecting is not waiting (kafkajs's admin is connected first too).
      started ??= performance.now();
      const existing = new Set(listed);
      const missing = this.options.topics.filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      const waited = performance.now() - started;
      if (waited >= limit) throw new TopicNotFoundError(missing, waited);
      if (performance.now() - noticed >= TOPIC_WAIT_NOTICE_MS) {
        noticed = performance.now();
        listener.waiting?.(
          `waiting for topic(s) ${missing.join(', ')} to exist (group ${this.options.groupId}; ` +
            `waited ${Math.round(waited / 1000)} s, giving up after ${Math.round(limit / 1000)} s)`,
        );
      }
      await sleep(Math.min(delay, limit - waited), undefined, { signal: this.stopSignal.signal }).catch(
        () => undefined,
      );
    }
  }
}

/** Settles with how `p` ended, or 'timeout' after `ms`; never rejects. */
async function bounded(p: Promise<unknown>, ms: number): Promise<'ok' | 'failed' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => 'ok' as const,
        () => 'failed' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The client's messages as the pipeline's records. Offsets and timestamps
 * are bigints there and strings here; consecutive records mostly share a
 * timestamp (one producer batch), so its string is reused while it does.
 */
class RecordConverter {
  private ts = -1n;
  private tsText = '';

  record(m: Message<Buffer, Buffer, Buffer, Buffer>): SourceRecord {
    const headers: Record<string, HeaderValue> = {};
    // The same pairs as the `headers` Map (a later duplicate name wins),
    // without a Map iterator per record.
    const entries = m.headerEntries;
    for (let i = 0; i < entries.length; i++) {
      const [name, value] = entries[i]!;
      headers[name.toString()] = value;
    }
    if (m.timestamp !== this.ts) {
      this.ts = m.timestamp;
      this.tsText = m.timestamp.toString();
    }
    return {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset.toString(),
      key: m.key ?? null,
      value: m.value ?? null,
      headers,
      timestamp: this.tsText,
    };
  }
}
