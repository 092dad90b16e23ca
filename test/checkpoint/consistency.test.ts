import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { StateStore, type CheckpointInfo } from '../../src/index.js';
import { CheckpointCoordinator } from '../../src/checkpoint/coordinator.js';
import { countingReference } from '../helpers/reference.js';
import { tmpDir } from '../helpers/tmp.js';
import { openRepo } from './support.js';

const TP = { topic: 'events', partition: 0 };
const KEYS = 100_000;
type Acc = { count: number; sum: number };

// Record i adds 1 to the count and i to the sum of key k<i % KEYS>.
function apply(store: StateStore, from: number, to: number): void {
  const p = store.partition(TP.topic, TP.partition);
  for (let i = from; i < to; i++)
    p.update<Acc>(`k${i % KEYS}`, (s) => ({ count: (s?.count ?? 0) + 1, sum: (s?.sum ?? 0) + i }));
}

describe('a checkpoint is one consistent point in time while writes go on', () => {
  it.each(['lmdb', 'memory'] as const)(
    '%s store: restored state equals the state at exactly the recorded offset',
    async (backend) => {
      const store = await StateStore.open(
        backend === 'lmdb'
          ? { path: path.join(tmpDir('ckcons'), 'state'), cacheEntries: 1_000_000, sweepIntervalMs: 0 }
          : { backend: 'memory', cacheEntries: 1_000_000, sweepIntervalMs: 0 },
      );
      let next = 0;
      for (; next < 2 * KEYS; next += 20_000) {
        apply(store, next, next + 20_000);
        await store.commit([{ ...TP, offset: next + 20_000 }]);
      }
      const repo = openRepo();
      let writing = false;
      let commitsDuring = 0;
      const co = new CheckpointCoordinator(store, repo, {
        retention: false,
        observer: { checkpointStarted: () => void (writing = true), checkpointCompleted: () => void (writing = false) },
      });
      // The writer keeps committing small batches until the checkpoint is done.
      let stop = false;
      const writer = (async () => {
        while (!stop) {
          const end = next + 1 + Math.floor(Math.random() * 500);
          apply(store, next, end);
          await store.commit([{ ...TP, offset: end }]);
          next = end;
          if (writing) commitsDuring++;
          await new Promise((r) => setImmediate(r));
        }
      })();
      let info: CheckpointInfo | undefined;
      try {
        info = await co.checkpoint();
      } finally {
        stop = true;
        await writer;
      }
      expect(commitsDuring).toBeGreaterThanOrEqual(3);
      const offset = Number(info!.partitions[0]!.offset);
      expect(offset).toBeGreaterThanOrEqual(2 * KEYS);
      expect(next).toBeGreaterThan(offset); // the store moved on past the checkpoint

      const target = await StateStore.open({
        path: path.join(tmpDir('ckcons'), 'target'),
        cacheEntries: 1000,
        sweepIntervalMs: 0,
      });
      await repo.restore(target);
      expect(target.offset(TP.topic, TP.partition)).toBe(String(offset));
      const ref = countingReference(offset, KEYS);
      const got = new Map(
        [...target.partition(TP.topic, TP.partition).entries<Acc>()].map((e) => [e.key as string, e.value]),
      );
      expect(got.size).toBe(ref.size);
      let mismatches = 0;
      for (const [k, v] of ref) if (got.get(k)?.count !== v.count || got.get(k)?.sum !== v.sum) mismatches++;
      expect(mismatches).toBe(0);
      await target.close();
      await store.close();
    },
  );
});
