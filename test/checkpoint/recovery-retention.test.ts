// Issue 8, item 5, end to end on the in-process source: a member whose
// recovery is slow must neither checkpoint the stale local state of the
// partitions it is still recovering, nor let retention delete the checkpoint
// those partitions will be restored from.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type CheckpointInfo,
  type PartitionState,
  type PipelineMessage,
  type ReadChunksOptions,
  type RecoveryReport,
} from '../../src/index.js';
import { ForwardingStorage } from '../../src/checkpoint/forwarding-storage.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, openRepo } from './support.js';

const TOPIC = 'clicks';
const P0 = { topic: TOPIC, partition: 0 };
const P1 = { topic: TOPIC, partition: 1 };

/** Holds reads of the segments under one checkpoint until `open()`. */
class GatedStorage extends ForwardingStorage {
  gatedId: string | undefined;
  private opened!: () => void;
  readonly gate = new Promise<void>((resolve) => (this.opened = resolve));
  reached = false;

  open(): void {
    this.opened();
  }

  override async *readChunks(key: string, options?: ReadChunksOptions): AsyncIterable<Buffer> {
    if (this.gatedId !== undefined && key.startsWith(`${this.gatedId}/`)) {
      this.reached = true;
      await this.gate;
    }
    yield* this.inner.readChunks(key, options);
  }
}

// Counts records per partition: the state at offset n is { n }.
function counter(message: PipelineMessage, state: PartitionState): void {
  void message;
  state.update<number>('n', (n) => (n ?? 0) + 1);
}

/** A state directory with `offset` records of each partition applied. */
async function stateAt(dir: string, offset: number): Promise<StateStore> {
  const store = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
  for (const tp of [P0, P1]) store.partition(tp.topic, tp.partition).put('n', offset);
  await store.commit([P0, P1].map((tp) => ({ ...tp, offset: String(offset) })));
  return store;
}

describe('a slow recovery and retention (keepLast: 1)', () => {
  it('neither checkpoints partitions still recovering nor deletes the checkpoint holding them furthest ahead', async () => {
    const dir = tmpDir('recovery-retention');
    const ckptDir = path.join(dir, 'checkpoints');
    const log = new InProcessLog();
    log.createTopic(TOPIC, 2);
    log.append(
      TOPIC,
      Array.from({ length: 24 }, (_, i) => ({ key: `k${i}`, value: 'x', partition: i % 2 })),
    );
    const writer = openRepo(ckptDir);

    // Another member got both partitions to offset 10 and checkpointed P1
    // first, then P0 (so P0's checkpoint is the newer one).
    const other = await stateAt(path.join(dir, 'other'), 10);
    const c1 = await checkpointNow(other, writer, [P1]);
    const x = await checkpointNow(other, writer, [P0]);
    await other.close();
    // This member's own disk still holds both at 5.
    await (await stateAt(path.join(dir, 'mine'), 5)).close();

    const storage = new GatedStorage(new LocalDirectoryStorage({ path: ckptDir }));
    storage.gatedId = x.id; // P0's restore is slow; P1 waits behind it, still recovering
    const store = await StateStore.open({ path: path.join(dir, 'mine'), sweepIntervalMs: 0 });
    const reports: RecoveryReport[] = [];
    const written: CheckpointInfo[] = [];
    const repository = new CheckpointRepository({ storage });
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: [TOPIC] }),
      store,
      handler: counter,
      handleSignals: false,
      observers: [{ recovered: (r) => reports.push(r) }],
      checkpoints: {
        repository,
        coordinator: {
          intervalMs: 10,
          minPauseMs: 0,
          retention: { keepLast: 1 },
          observer: { checkpointCompleted: (e) => void repository.get(e.id).then((i) => written.push(i)) },
        },
      },
    });
    try {
      const started = pipeline.start(); // resolves once the first assignment has recovered
      await expect.poll(() => storage.reached, { timeout: 10_000, interval: 5 }).toBe(true);
      // Let a periodic checkpoint (and its retention pass) run while both recover.
      const coordinator = pipeline.checkpoints!;
      await expect
        .poll(() => coordinator.lastSuccessAt !== undefined && !coordinator.inFlight, { timeout: 10_000, interval: 5 })
        .toBe(true);
      storage.open();
      await started;
      await expect.poll(() => pipeline.ready, { timeout: 10_000, interval: 5 }).toBe(true);

      // Both partitions resumed from the checkpoints at 10, not from local state at 5.
      expect(reports.map((r) => [r.partition, r.source, r.offset])).toEqual([
        [0, 'checkpoint', '10'],
        [1, 'checkpoint', '10'],
      ]);
      expect(reports[1]!.checkpointId).toBe(c1.id);
      expect(reports[1]!.skipped).toEqual([]);
      // No checkpoint ever held a partition at its stale local offset.
      const held = written.flatMap((c) => c.partitions.map((p) => `${p.topic}:${p.partition}@${p.offset}`));
      expect(held.filter((h) => h.endsWith('@5'))).toEqual([]);
      // And on to the end of the log, each record counted once.
      await expect
        .poll(() => pipeline.positions().map((p) => p.offset), { timeout: 10_000, interval: 5 })
        .toEqual(['12', '12']);
      expect([0, 1].map((p) => store.partition(TOPIC, p).get('n'))).toEqual([12, 12]);
    } finally {
      storage.open();
      await pipeline.stop();
      await repository.close();
    }
  });
});
