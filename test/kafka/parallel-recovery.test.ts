// Issue 10 on a real broker: a partition whose restore is done is processed
// while another partition's restore is still held (a gate in the checkpoint
// storage), the member is not ready until both are, and the state is exact.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
  type CheckpointStorage,
} from '../../src/index.js';
import { accountRecord, balanceHandler, reference, type Balance } from '../helpers/accounts.js';
import { gatePartition } from '../helpers/gated-storage.js';
import { brokers, createAdmin, createTopic, produce, uniqueGroupId } from '../helpers/kafka.js';
import { tmpDir } from '../helpers/tmp.js';
import { createSource } from './support/source-factory.js';

describe('parallel recovery on a real broker', () => {
  it('processes a restored partition while the other still restores; ready once both are; exact', async () => {
    const admin = await createAdmin();
    const topic = await createTopic(admin, { partitions: 2, prefix: 'tm-par' });
    const group = uniqueGroupId('tm-par');
    const dir = tmpDir('kpar');
    const state = path.join(dir, 'state');
    const checkpoints = path.join(dir, 'checkpoints');
    const events: string[] = [];
    const started: Array<Promise<void>> = [];
    const start = async (storage: CheckpointStorage): Promise<Pipeline> => {
      const pipeline = new Pipeline({
        source: createSource({ brokers: brokers(), groupId: group, topics: [topic], sessionTimeout: 10_000 }),
        store: await StateStore.open({ path: state }),
        handler: balanceHandler,
        commitInterval: { records: 100, ms: 50 },
        checkpoints: { repository: new CheckpointRepository({ storage }), coordinator: { intervalMs: 3_600_000 } },
        restoreConcurrency: 2,
        observers: [
          {
            recovered: (r) => events.push(`recovered ${r.partition} from ${r.source}`),
            batchProcessed: (tp) => events.push(`batch ${tp.partition}`),
            readinessChanged: (ready) => events.push(`ready ${ready}`),
          },
        ],
      });
      // Not awaited: a source may resolve start() only once its first
      // assignment is recovered (the platformatic one does), and here one
      // partition's restore waits for the test.
      started.push(pipeline.start());
      return pipeline;
    };
    const records = Array.from({ length: 600 }, (_, i) => accountRecord(i));
    await produce(topic, records.slice(0, 400));
    const endOf = async (p: number): Promise<string> =>
      (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === p)!.high;
    const at = (pipeline: Pipeline, p: number): string | undefined =>
      pipeline.positions().find((x) => x.partition === p)?.offset;

    const first = await start(new LocalDirectoryStorage({ path: checkpoints }));
    const end0 = await endOf(0);
    const end1 = await endOf(1);
    await expect
      .poll(() => at(first, 0) === end0 && at(first, 1) === end1, { timeout: 30_000, interval: 20 })
      .toBe(true);
    await started[0];
    await first.stop(); // final checkpoint of both partitions
    fs.rmSync(state, { recursive: true }); // both restore from it now
    await produce(topic, records.slice(400));

    events.length = 0;
    const storage = await gatePartition(checkpoints, { topic, partition: 1 });
    const second = await start(storage);
    await storage.reached; // partition 1's restore is held
    const end0b = await endOf(0);
    await expect.poll(() => at(second, 0), { timeout: 30_000, interval: 20 }).toBe(end0b);
    // Partition 0 recovered and processed its new records; partition 1 is still restoring.
    expect(events).toContain('recovered 0 from checkpoint');
    expect(events).toContain('batch 0');
    expect(events.some((e) => e.startsWith('recovered 1') || e === 'batch 1' || e === 'ready true')).toBe(false);
    expect(second.ready).toBe(false);

    storage.open();
    await started[1];
    const end1b = await endOf(1);
    await expect.poll(() => second.ready && at(second, 1) === end1b, { timeout: 30_000, interval: 20 }).toBe(true);
    expect(events.filter((e) => e.startsWith('recovered') || e === 'ready true')).toEqual([
      'recovered 0 from checkpoint',
      'recovered 1 from checkpoint',
      'ready true',
    ]);
    await second.stop();

    const store = await StateStore.open({ path: state });
    const got = new Map<string, Balance>();
    for (const tp of store.partitions())
      for (const e of store.partition(tp.topic, tp.partition).entries<Balance>()) got.set(e.key as string, e.value);
    await store.close();
    expect(got).toEqual(reference(records));
  }, 120_000);
});
