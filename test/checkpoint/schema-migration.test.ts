// Issue 8, item 12: a rolling deploy that bumps the schema. A checkpoint of
// an older schema is migrated as it is restored (the store's migrations, all
// or nothing); a newer one is refused with SchemaVersionError, never skipped.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  InProcessLog,
  InProcessSource,
  MigrationError,
  Pipeline,
  SchemaVersionError,
  StateStore,
  type Migrations,
  type PartitionState,
  type PipelineMessage,
  type RecoveryReport,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, openRepo, rawState } from './support.js';

const A0 = { topic: 'orders', partition: 0 };
const A1 = { topic: 'orders', partition: 1 };

// v1 values are { i, tag, pad } (support.ts fill); v2 adds `seen`, v3 renames tag to label.
const migrations: Migrations = {
  1: (v: { i: number; tag: string; pad: string }) => ({ ...v, seen: v.i * 2 }),
  2: ({ tag, ...rest }: { tag: string }) => ({ ...rest, label: tag }),
};

async function open(dir: string, schemaVersion: number, m: Migrations = migrations): Promise<StateStore> {
  return StateStore.open({ path: dir, sweepIntervalMs: 0, schemaVersion, migrations: m });
}

describe('restoring a checkpoint of another schema version', () => {
  it('an older one is migrated as it is restored, with the same migrations as at open, expiries kept', async () => {
    const dir = tmpDir('schema');
    const repo = openRepo(path.join(dir, 'checkpoints'));
    const v1 = await open(path.join(dir, 'v1'), 1);
    await fill(v1, A0, 50, 40);
    v1.partition(A1.topic, A1.partition).put('ttl', { i: 7, tag: 't', pad: '' }, { ttlMs: 3_600_000 });
    await v1.commit([{ ...A1, offset: '3' }]);
    const cp = await checkpointNow(v1, repo);
    await v1.close();

    // The same state, migrated at open: what the restore must produce.
    const reference = await open(path.join(dir, 'v1'), 3);
    const expected = [await rawState(reference, A0), await rawState(reference, A1)];
    await reference.close();

    const target = await open(path.join(dir, 'v3'), 3);
    try {
      const r = await repo.restore(target);
      expect(r.restored.map((x) => `${x.topic}:${x.partition}@${x.offset}:${x.checkpointId === cp.id}`)).toEqual([
        'orders:0@40:true',
        'orders:1@3:true',
      ]);
      expect([await rawState(target, A0), await rawState(target, A1)]).toEqual(expected);
      expect(target.partition('orders', 0).get('k000021')).toEqual({
        i: 21,
        seen: 42,
        label: 'v1',
        pad: 'x'.repeat(21),
      });
      expect(target.schemaVersion).toBe(3);
    } finally {
      await target.close();
    }
  });

  it('a migration that throws on one value: MigrationError, and no partition is replaced', async () => {
    const dir = tmpDir('schema');
    const repo = openRepo(path.join(dir, 'checkpoints'));
    const v1 = await open(path.join(dir, 'v1'), 1);
    await fill(v1, A0, 30, 10);
    await fill(v1, A1, 30, 10);
    await checkpointNow(v1, repo);
    await v1.close();
    const failing: Migrations = {
      ...migrations,
      2: (v: { i: number }, ctx) => {
        if (ctx.partition === 1 && v.i === 29) throw new Error('cannot convert 29');
        return v;
      },
    };
    const target = await open(path.join(dir, 'v3'), 3, failing);
    try {
      await fill(target, A0, 2, 2, 'local');
      const before = [await rawState(target, A0), await rawState(target, A1)];
      const err = await repo.restore(target).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).message).toMatch(/orders:1.*schema version 2 to 3.*cannot convert 29/);
      expect((err as MigrationError).fromVersion).toBe(2);
      expect([await rawState(target, A0), await rawState(target, A1)]).toEqual(before);
    } finally {
      await target.close();
    }
  });

  it('a newer one, or an older one with no migration path, is refused with SchemaVersionError before anything is replaced', async () => {
    const dir = tmpDir('schema');
    const repo = openRepo(path.join(dir, 'checkpoints'));
    const v3 = await open(path.join(dir, 'v3'), 3);
    await fill(v3, A0, 5, 5);
    const newer = await checkpointNow(v3, repo);
    await v3.close();
    const v2 = await open(path.join(dir, 'v2'), 2);
    try {
      await fill(v2, A0, 2, 2, 'local');
      const before = await rawState(v2, A0);
      const err = await repo.restore(v2).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaVersionError);
      expect(err).toMatchObject({ storedVersion: 3, expectedVersion: 2 });
      expect((err as Error).message).toContain(
        `checkpoint ${newer.id} holds state of schema version 3, newer than this store's 2`,
      );
      expect(await rawState(v2, A0)).toEqual(before);
    } finally {
      await v2.close();
    }
    const v4 = await open(path.join(dir, 'v4'), 4); // no migration from 3 to 4
    try {
      const err = await repo.restore(v4, { partitions: [A0] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaVersionError);
      expect((err as Error).message).toMatch(/no migration from 3 to 4 is registered/);
    } finally {
      await v4.close();
    }
  });
});

describe('a rolling deploy on the in-process source', () => {
  const TOPIC = 'clicks';
  const counterV1 = (m: PipelineMessage, s: PartitionState): void =>
    void s.update<number>(String(m.key), (n) => (n ?? 0) + 1);
  const counterV2 = (m: PipelineMessage, s: PartitionState): void =>
    void s.update<{ n: number }>(String(m.key), (v) => ({ n: (v?.n ?? 0) + 1 }));
  const toV2: Migrations = { 1: (n: number) => ({ n }) };

  async function run(
    log: InProcessLog,
    stateDir: string,
    ckptDir: string,
    schemaVersion: number,
    handler: typeof counterV1,
  ) {
    const store = await StateStore.open({
      path: stateDir,
      sweepIntervalMs: 0,
      schemaVersion,
      migrations: schemaVersion === 2 ? toV2 : {},
    });
    const reports: RecoveryReport[] = [];
    const repository = openRepo(ckptDir);
    const pipeline = new Pipeline({
      source: new InProcessSource({ log, topics: [TOPIC] }),
      store,
      handler,
      handleSignals: false,
      observers: [{ recovered: (r) => reports.push(r) }],
      checkpoints: { repository, coordinator: { intervalMs: 60_000 } },
    });
    return { pipeline, store, reports };
  }

  it("a new member restores an old member's checkpoints, migrated; an old member refuses a new one's and fails, never starting empty", async () => {
    const dir = tmpDir('rolling');
    const ckpt = path.join(dir, 'checkpoints');
    const log = new InProcessLog();
    log.createTopic(TOPIC, 2);
    log.append(
      TOPIC,
      Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, value: 'x', partition: i % 2 })),
    );

    const old = await run(log, path.join(dir, 'old'), ckpt, 1, counterV1);
    await old.pipeline.start();
    await expect
      .poll(() => old.pipeline.positions().map((p) => p.offset), { timeout: 10_000, interval: 5 })
      .toEqual(['20', '20']);
    await old.pipeline.stop(); // final checkpoint, schema 1

    // The new version, on a fresh disk, is handed both partitions.
    log.append(
      TOPIC,
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 5}`, value: 'x', partition: i % 2 })),
    );
    const fresh = await run(log, path.join(dir, 'new'), ckpt, 2, counterV2);
    await fresh.pipeline.start();
    await expect
      .poll(() => fresh.pipeline.positions().map((p) => p.offset), { timeout: 10_000, interval: 5 })
      .toEqual(['25', '25']);
    expect(fresh.reports.map((r) => [r.partition, r.source, r.offset])).toEqual([
      [0, 'checkpoint', '20'],
      [1, 'checkpoint', '20'],
    ]);
    // k0 came 4 times in the first 40 records and once in the next 10: each counted once.
    expect(fresh.store.partition(TOPIC, 0).get('k0')).toEqual({ n: 5 });
    await fresh.pipeline.stop(); // final checkpoint, schema 2

    // An old member handed a partition whose best checkpoint is newer: refused, clearly.
    const stale = await run(log, path.join(dir, 'stale'), ckpt, 1, counterV1);
    await stale.pipeline.start().catch(() => undefined);
    const err = await stale.pipeline.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaVersionError);
    expect((err as Error).message).toMatch(/holds state of schema version 2, newer than this store's 1/);
    expect(stale.reports.filter((r) => r.source === 'empty')).toEqual([]);
  });
});
