import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CheckpointRepository,
  CheckpointTimeoutError,
  ConfigError,
  InvalidArgumentError,
  LocalDirectoryStorage,
  StorageError,
  type CheckpointObserver,
  type CheckpointStorage,
  type ObjectWriter,
} from '../../src/index.js';
import { CheckpointCoordinator } from '../../src/checkpoint/coordinator.js';
import { tmpDir } from '../helpers/tmp.js';
import { FaultyStorage, fill, openStore, rawState } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };

type Event = { kind: keyof CheckpointObserver; event: Record<string, unknown> };

/** Records observer events and lets a test await the next one of a kind. */
class Recorder implements CheckpointObserver {
  readonly events: Event[] = [];
  private waiters: Array<{ kind: string; resolve: (e: Record<string, unknown>) => void }> = [];

  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }

  next(kind: keyof CheckpointObserver): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.push({ kind, resolve }));
  }

  private push(kind: keyof CheckpointObserver, event: object): void {
    this.events.push({ kind, event: event as Record<string, unknown> });
    this.waiters = this.waiters.filter((w) => {
      if (w.kind !== kind) return true;
      w.resolve(event as Record<string, unknown>);
      return false;
    });
  }

  checkpointStarted(e: object) {
    this.push('checkpointStarted', e);
  }
  checkpointCompleted(e: object) {
    this.push('checkpointCompleted', e);
  }
  checkpointFailed(e: object) {
    this.push('checkpointFailed', e);
  }
  healthChanged(e: object) {
    this.push('healthChanged', e);
  }
  retentionCompleted(e: object) {
    this.push('retentionCompleted', e);
  }
  retentionFailed(e: object) {
    this.push('retentionFailed', e);
  }
}

/** A storage whose manifest writes wait at a gate the test opens. */
class GatedStorage extends FaultyStorage {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private reached: (() => void) | undefined;
  /** Resolves when a manifest write reaches the gate. */
  waiting: Promise<void> = Promise.resolve();

  close(): void {
    this.gate = new Promise((r) => (this.openGate = r));
    this.waiting = new Promise((r) => (this.reached = r));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  override async create(key: string): Promise<ObjectWriter> {
    if (key.endsWith('/manifest') && this.gate !== undefined) {
      this.reached?.();
      await this.gate;
    }
    return super.create(key);
  }
}

async function setup(
  opts: ConstructorParameters<typeof CheckpointCoordinator>[2] = {},
  wrap?: (s: CheckpointStorage) => CheckpointStorage,
) {
  const dir = tmpDir('ckco');
  const base = new LocalDirectoryStorage({ path: dir });
  const storage = wrap ? wrap(base) : base;
  const repo = new CheckpointRepository({ storage });
  const store = await openStore();
  await fill(store, A0, 50, 10);
  await fill(store, A1, 50, 10);
  const rec = new Recorder();
  const co = new CheckpointCoordinator(store, repo, { retention: false, observer: rec, ...opts });
  return { dir, repo, store, rec, co, storage };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('checkpoint coordinator: on demand', () => {
  it('writes a checkpoint and reports it', async () => {
    const { co, rec, repo } = await setup();
    expect(co.healthy).toBe(true);
    expect(co.lastSuccessAt).toBeUndefined();
    const info = await co.checkpoint();
    expect(info!.partitions.map((p) => p.partition)).toEqual([0, 1]);
    expect(rec.kinds()).toEqual(['checkpointStarted', 'checkpointCompleted']);
    expect(rec.events[0]!.event).toMatchObject({ id: info!.id, trigger: 'manual', partitions: [A0, A1] });
    expect(rec.events[1]!.event).toMatchObject({
      id: info!.id,
      trigger: 'manual',
      partitions: 2,
      entries: 100,
      rawBytes: info!.rawBytes,
      storedBytes: info!.storedBytes,
    });
    expect(rec.events[1]!.event.durationMs).toBeGreaterThan(0);
    expect(co.lastSuccessAt).toBeGreaterThan(0);
    expect(co.lastCheckpoint?.id).toBe(info!.id);
    expect((await repo.list()).map((c) => c.id)).toEqual([info!.id]);
    await repo.close();
  });

  it('checkpoints only the partitions asked for, or those the partitions option names', async () => {
    const { co, repo, store } = await setup();
    expect((await co.checkpoint({ partitions: [A1] }))!.partitions.map((p) => p.partition)).toEqual([1]);
    const owned = new CheckpointCoordinator(store, repo, { retention: false, partitions: () => [A0] });
    expect((await owned.checkpoint())!.partitions.map((p) => p.partition)).toEqual([0]);
    const none = new CheckpointCoordinator(store, repo, { retention: false, partitions: () => [] });
    expect(await none.checkpoint()).toBeUndefined();
    await repo.close();
  });

  it('at most one in flight: calls made meanwhile are merged into one next checkpoint, taken after them', async () => {
    const { co, rec, repo, store } = await setup({}, (s) => new GatedStorage(s));
    const storage = repo.storage as GatedStorage;
    storage.close();
    const first = co.checkpoint({ partitions: [A0] });
    await storage.waiting;
    expect(co.inFlight).toBe(true);
    // New state lands while the first checkpoint is being written.
    await fill(store, A0, 60, 20, 'v2');
    await fill(store, A1, 60, 20, 'v2');
    const second = co.checkpoint({ partitions: [A0] });
    const third = co.checkpoint({ partitions: [A1] });
    storage.open();
    const [a, b, c] = await Promise.all([first, second, third]);
    expect(a!.partitions.map((p) => `${p.partition}@${p.offset}`)).toEqual(['0@10']);
    expect(b!.id).toBe(c!.id);
    expect(b!.partitions.map((p) => `${p.partition}@${p.offset}`)).toEqual(['0@20', '1@20']);
    expect(rec.kinds()).toEqual([
      'checkpointStarted',
      'checkpointCompleted',
      'checkpointStarted',
      'checkpointCompleted',
    ]);
    const target = await openStore();
    await repo.restore(target, { id: b!.id });
    expect(await rawState(target, A1)).toEqual(await rawState(store, A1));
    await repo.close();
  });

  it("bad partitions are the caller's error, not a failed checkpoint", async () => {
    const { co, repo } = await setup();
    await expect(co.checkpoint({ partitions: [{ topic: 'x y', partition: 0 }] })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(co.checkpoint(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(co.consecutiveFailures).toBe(0);
    await repo.close();
  });

  it('counts consecutive failures, turns unhealthy at the threshold, and healthy again on success', async () => {
    const { co, rec, repo } = await setup({ unhealthyAfterFailures: 2 }, (s) => new FaultyStorage(s));
    const faulty = repo.storage as FaultyStorage;
    faulty.failWrite = { match: /\.seg$/, afterBytes: 0, code: 'ENOSPC' };
    await expect(co.checkpoint()).rejects.toBeInstanceOf(StorageError);
    expect(co.healthy).toBe(true);
    expect(co.consecutiveFailures).toBe(1);
    await expect(co.checkpoint()).rejects.toBeInstanceOf(StorageError);
    expect(co.healthy).toBe(false);
    expect(
      rec.events
        .filter((e) => e.kind === 'checkpointFailed')
        .map((e) => [e.event.consecutiveFailures, e.event.healthy]),
    ).toEqual([
      [1, true],
      [2, false],
    ]);
    expect(rec.events.find((e) => e.kind === 'healthChanged')!.event).toEqual({
      healthy: false,
      consecutiveFailures: 2,
    });
    expect((rec.events.find((e) => e.kind === 'checkpointFailed')!.event.error as StorageError).syscallCode).toBe(
      'ENOSPC',
    );
    faulty.failWrite = undefined;
    await co.checkpoint();
    expect(co.healthy).toBe(true);
    expect(co.consecutiveFailures).toBe(0);
    expect(rec.events.filter((e) => e.kind === 'healthChanged').at(-1)!.event).toEqual({
      healthy: true,
      consecutiveFailures: 0,
    });
    await repo.close();
  });

  it('applies retention after each successful checkpoint; a failing prune does not fail the checkpoint', async () => {
    // Full checkpoints only: deltas keep their chains (see the chain tests below).
    const { co, rec, repo } = await setup(
      { retention: { keepLast: 2 }, maxIncrements: 0 },
      (s) => new FaultyStorage(s),
    );
    for (let i = 0; i < 4; i++) await co.checkpoint();
    expect((await repo.list()).length).toBe(2);
    expect(
      rec.events.filter((e) => e.kind === 'retentionCompleted').map((e) => (e.event.deleted as string[]).length),
    ).toEqual([0, 0, 1, 1]);
    const faulty = repo.storage as FaultyStorage;
    faulty.list = () => Promise.reject(Object.assign(new Error('EIO listing'), { code: 'EIO' }));
    const info = await co.checkpoint();
    expect(info).toBeDefined();
    expect(rec.kinds().at(-1)).toBe('retentionFailed');
    expect(co.healthy).toBe(true);
    await repo.close();
  });

  it('an observer that throws does not break checkpointing', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { repo, store } = await setup();
    const co = new CheckpointCoordinator(store, repo, {
      retention: false,
      observer: {
        checkpointCompleted() {
          throw new Error('metrics are down');
        },
      },
    });
    expect(await co.checkpoint()).toBeDefined();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/metrics are down/));
    warn.mockRestore();
    await repo.close();
  });

  it('validates its options with ConfigError', async () => {
    const { repo, store } = await setup();
    const bad: Array<Record<string, unknown>> = [
      { intervalMs: 0 },
      { intervalMs: Infinity },
      { minPauseMs: -1 },
      { timeoutMs: 'soon' },
      { unhealthyAfterFailures: 0 },
      { retention: { keepLast: 0 } },
      { finalCheckpoint: 'yes' },
      { partitions: [A0] },
      { clock: {} },
      { interval: 5 },
    ];
    for (const o of bad)
      expect(() => new CheckpointCoordinator(store, repo, o as never), JSON.stringify(o)).toThrow(ConfigError);
    expect(() => new CheckpointCoordinator({} as never, repo)).toThrow(ConfigError);
    expect(() => new CheckpointCoordinator(store, {} as never)).toThrow(ConfigError);
    await repo.close();
  });

  it('validates the incremental options with ConfigError naming the field', async () => {
    const { repo, store } = await setup();
    for (const o of [{ maxIncrements: -1 }, { maxIncrements: 1.5 }, { maxIncrements: '3' }]) {
      expect(() => new CheckpointCoordinator(store, repo, o as never), JSON.stringify(o)).toThrow(
        /"maxIncrements" must be an integer >= 0/,
      );
    }
    for (const o of [{ maxIncrementShare: 0 }, { maxIncrementShare: -0.5 }, { maxIncrementShare: Number.NaN }]) {
      expect(() => new CheckpointCoordinator(store, repo, o as never), JSON.stringify(o)).toThrow(
        /"maxIncrementShare" must be a finite number > 0/,
      );
    }
    expect(() => new CheckpointCoordinator(store, repo, { maxIncrements: 0, maxIncrementShare: 2 })).not.toThrow();
    await repo.close();
  });

  it('checkpointCompleted says full or incremental, and the chain length', async () => {
    const { co, rec, repo, store } = await setup();
    store.partition(A0.topic, A0.partition).put('a', 1);
    await store.commit([{ ...A0, offset: 1 }]);
    await co.checkpoint();
    store.partition(A0.topic, A0.partition).put('b', 2);
    await store.commit([{ ...A0, offset: 2 }]);
    await co.checkpoint();
    const done = rec.events.filter((e) => e.kind === 'checkpointCompleted').map((e) => e.event);
    expect(done.map((e) => [e.kind, e.fullSegments, e.deltaSegments, e.chainLength])).toEqual([
      ['full', 2, 0, 0],
      // The unchanged partition is an empty delta.
      ['incremental', 0, 2, 1],
    ]);
    await repo.close();
  });
});

describe('checkpoint coordinator: periodic, timeout, stop (fake timers)', () => {
  function fakeTime(): void {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  }

  it('runs every interval after start(); start() is idempotent; nothing before the first interval', async () => {
    const { co, rec, repo, store } = await setup({ intervalMs: 1000, minPauseMs: 0 });
    fakeTime();
    co.start();
    co.start();
    expect(co.periodic).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(rec.kinds()).toEqual([]);
    const done = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1);
    expect((await done).trigger).toBe('periodic');
    // One timer only, despite two start() calls: exactly one more run per interval.
    await fill(store, A0, 50, 20, 'v2'); // (a periodic checkpoint of an unchanged store is skipped)
    const again = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1000);
    await again;
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(2);
    await co.stop();
    await repo.close();
  });

  it('skips a periodic checkpoint when the store has not changed since the last one', async () => {
    const { co, rec, repo, store } = await setup({ intervalMs: 1000, minPauseMs: 0 });
    fakeTime();
    co.start();
    const first = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1000);
    await first;
    await vi.advanceTimersByTimeAsync(3000); // three more intervals, nothing committed
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(1);
    expect(co.healthy).toBe(true);
    expect((await repo.list()).filter((c) => c.status === 'valid')).toHaveLength(1);
    await fill(store, A1, 50, 30, 'v3'); // a commit: the next interval writes one
    const next = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1000);
    expect((await next).trigger).toBe('periodic');
    // A checkpoint asked for explicitly is written even when nothing changed.
    await co.checkpoint();
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(3);
    await co.stop();
    await repo.close();
  });

  it('keeps the minimum pause between the end of one checkpoint and the start of the next', async () => {
    fakeTime();
    // Each checkpoint "takes" 900 ms of clock time.
    const slow = (s: CheckpointStorage) => {
      const g = new FaultyStorage(s);
      const create = g.create.bind(g);
      g.create = async (key) => {
        if (key.endsWith('/manifest')) vi.setSystemTime(Date.now() + 900);
        return create(key);
      };
      return g;
    };
    const { co, rec, repo, store } = await setup({ intervalMs: 1000, minPauseMs: 300 }, slow);
    const t0 = Date.now();
    co.start();
    let done = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1000);
    await done;
    // Started at t0+1000, ended at t0+1900: next at max(t0+2000, t0+2200).
    expect(Date.now() - t0).toBe(1900);
    await fill(store, A0, 50, 20, 'v2'); // a change, or the next periodic one is skipped
    done = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(299);
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(2);
    co.stop().catch(() => undefined);
    await repo.close();
  });

  it('a periodic failure is reported, never thrown, and the schedule goes on', async () => {
    const { co, rec, repo } = await setup({ intervalMs: 1000, minPauseMs: 0 }, (s) => new FaultyStorage(s));
    (repo.storage as FaultyStorage).failCommit = { match: /manifest$/, code: 'EIO' };
    fakeTime();
    co.start();
    const failed = rec.next('checkpointFailed');
    await vi.advanceTimersByTimeAsync(1000);
    expect(((await failed).error as StorageError).syscallCode).toBe('EIO');
    (repo.storage as FaultyStorage).failCommit = undefined;
    const ok = rec.next('checkpointCompleted');
    await vi.advanceTimersByTimeAsync(1000);
    await ok;
    expect(co.consecutiveFailures).toBe(0);
    await co.stop();
    await repo.close();
  });

  it('a checkpoint past its timeout fails with CheckpointTimeoutError and leaves nothing visible', async () => {
    const { co, rec, repo } = await setup({ timeoutMs: 5000 }, (s) => new GatedStorage(s));
    const storage = repo.storage as GatedStorage;
    storage.close();
    fakeTime();
    const attempt = co.checkpoint().catch((e: unknown) => e);
    await storage.waiting; // stuck before the manifest
    await vi.advanceTimersByTimeAsync(5000);
    const err = await attempt;
    expect(err).toBeInstanceOf(CheckpointTimeoutError);
    expect(err).toMatchObject({ code: 'ERR_TIDEMARK_CHECKPOINT_TIMEOUT', timeoutMs: 5000 });
    expect(rec.kinds()).toEqual(['checkpointStarted', 'checkpointFailed']);
    expect(co.inFlight).toBe(false);
    // The abandoned write notices the abort and removes what it wrote.
    storage.open();
    vi.useRealTimers();
    for (let i = 0; i < 200 && (await repo.storage.list('')).length > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await repo.list()).toEqual([]);
    // And the next one works.
    expect(await co.checkpoint()).toBeDefined();
    await repo.close();
  });

  it('stop() waits for the one in flight, writes a final checkpoint, and ends the schedule', async () => {
    const { co, rec, repo, store } = await setup(
      { intervalMs: 1000, minPauseMs: 0, partitions: () => [A1] },
      (s) => new GatedStorage(s),
    );
    const storage = repo.storage as GatedStorage;
    storage.close();
    fakeTime();
    co.start();
    await vi.advanceTimersByTimeAsync(1000);
    await storage.waiting; // a periodic checkpoint is in flight
    await fill(store, A1, 70, 30, 'v3');
    const stopping = co.stop();
    storage.open();
    const final = await stopping;
    expect(final!.partitions.map((p) => `${p.partition}@${p.offset}`)).toEqual(['1@30']);
    expect(rec.events.filter((e) => e.kind === 'checkpointStarted').map((e) => e.event.trigger)).toEqual([
      'periodic',
      'stop',
    ]);
    expect(co.periodic).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rec.kinds().filter((k) => k === 'checkpointStarted')).toHaveLength(2);
    expect(await co.stop()).toBeDefined(); // idempotent: another final checkpoint, no error
    const noFinal = new CheckpointCoordinator(store, repo, { finalCheckpoint: false, retention: false });
    expect(await noFinal.stop()).toBeUndefined();
    await repo.close();
  });
});
