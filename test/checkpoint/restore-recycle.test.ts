// A restore gives each decoded chunk back to the codec worker once its
// records are staged (issue 10), unless the staging says it keeps the
// records' views (PartitionStaging.keepsRecordViews): then the chunks are
// left alone. Segments of several decoded chunks (1 MiB each), every value
// compared.
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Migrations, StateStore, type TopicPartition } from '../../src/index.js';
import type { PartitionStaging, RestoreRecord } from '../../src/state/backend.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, openRepo, openStore, rawState } from './support.js';

const TP: TopicPartition = { topic: 'recycle', partition: 0 };
const OTHER: TopicPartition = { topic: 'recycle', partition: 1 };
// ~40k records of 40-80 bytes: several decoded chunks per segment.
const N = 40_000;

/** Records every view a store's stagings are handed, as given (no copy). */
interface Spy {
  views: Buffer[];
  chunks: Set<ArrayBuffer>;
}

// Wraps store.beginRestore: each staging still applies through the real
// backend, but the wrapper also keeps the records' key and value views.
// `claim` sets what the staging says about keeping them (undefined: leave
// the backend's answer).
function spyOnStagings(store: StateStore, claim: boolean | undefined): Spy {
  const spy: Spy = { views: [], chunks: new Set() };
  const begin = store.beginRestore.bind(store);
  store.beginRestore = (tp) => {
    const inner = begin(tp);
    const staging: PartitionStaging = {
      tp: inner.tp,
      keepsRecordViews: claim ?? inner.keepsRecordViews,
      apply: (records: Iterable<RestoreRecord>, ascending: boolean) => {
        const list = [...records];
        for (const r of list) {
          spy.views.push(r.key);
          spy.chunks.add(r.key.buffer as ArrayBuffer);
          if (r.value !== null) spy.views.push(r.value);
        }
        inner.apply(list, ascending);
      },
      abort: () => inner.abort(),
    };
    // commitStaged finds its own staging again by identity.
    stagingOf.set(staging, inner);
    return staging;
  };
  const commit = store.commitRestore.bind(store);
  store.commitRestore = (items) =>
    commit(items.map((i) => ({ staging: stagingOf.get(i.staging) ?? i.staging, offset: i.offset })));
  return spy;
}
const stagingOf = new WeakMap<PartitionStaging, PartitionStaging>();

async function memoryStore(): Promise<StateStore> {
  const store = await StateStore.open({ backend: 'memory', sweepIntervalMs: 0 });
  onTestFinished(() => store.close().catch(() => undefined));
  return store;
}

// The views the spy kept, as hex, in the order given: `key=value` pairs.
function keptState(spy: Spy): string[] {
  const out: string[] = [];
  for (let i = 0; i < spy.views.length; i += 2)
    out.push(`${spy.views[i]!.toString('hex')}=${spy.views[i + 1]!.toString('hex')}`);
  return out;
}

describe('restore: decoded chunks recycled only when the staging keeps no views', () => {
  it('a staging that keeps the records it is given: its views stay intact, byte for byte', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, N, 900, 'kept');
    const info = await checkpointNow(source, repo);
    expect(info.partitions[0]!.rawBytes).toBeGreaterThan(2 * 1024 * 1024);

    const target = await memoryStore();
    const spy = spyOnStagings(target, true);
    await repo.restore(target, { id: info.id });
    const want = await rawState(source, TP);
    expect(spy.chunks.size).toBeGreaterThan(2);
    // Every value the staging kept is still what was decoded: no chunk was given back.
    expect(keptState(spy)).toEqual(want.entries);
    expect(await rawState(target, TP)).toEqual(want);
  });

  it('a memory store from a multi-chunk segment: every value restored, and the chunks given back', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, N, 900, 'mem');
    await fill(source, OTHER, N / 2, 40, 'mem');
    const info = await checkpointNow(source, repo);

    const target = await memoryStore();
    expect(target.beginRestore(TP).keepsRecordViews).toBe(false);
    const spy = spyOnStagings(target, undefined);
    await repo.restore(target, { id: info.id });
    expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
    expect(await rawState(target, OTHER)).toEqual(await rawState(source, OTHER));
    // The views the staging was handed are empty now: their chunks went back to the worker.
    expect(spy.chunks.size).toBeGreaterThan(2);
    expect(spy.views.filter((v) => v.length > 0)).toHaveLength(0);
  });

  it('LMDB: chunks given back, every value restored, a second restore into the same store too', async () => {
    const source = await openStore();
    const repo = openRepo();
    await fill(source, TP, N, 900, 'lmdb');
    const info = await checkpointNow(source, repo);

    const target = await openStore();
    await fill(target, TP, 500, 7, 'old');
    const spy = spyOnStagings(target, undefined);
    await repo.restore(target, { id: info.id });
    expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
    expect(spy.chunks.size).toBeGreaterThan(2);
    expect(spy.views.filter((v) => v.length > 0)).toHaveLength(0);
    // The worker now decodes into recycled buffers: still byte-exact.
    await fill(source, TP, N / 2, 1800, 'again');
    const next = await checkpointNow(source, repo);
    await repo.restore(target, { id: next.id });
    expect(await rawState(target, TP)).toEqual(await rawState(source, TP));
  });

  it('migrated on the way (older schema): every value migrated from recycled chunks', async () => {
    const migrations: Migrations = { 1: (v: { i: number; tag: string }) => ({ ...v, tag: `${v.tag}+2` }) };
    const source = await openStore(path.join(tmpDir('recycle-src'), 'state'), 1);
    const repo = openRepo();
    await fill(source, TP, N, 900, 'v1');
    const info = await checkpointNow(source, repo);

    const target = await StateStore.open({
      path: path.join(tmpDir('recycle-dst'), 'state'),
      sweepIntervalMs: 0,
      schemaVersion: 2,
      migrations,
    });
    onTestFinished(() => target.close().catch(() => undefined));
    const spy = spyOnStagings(target, undefined);
    await repo.restore(target, { id: info.id });
    // The keys' chunks were given back; the migrated values are new buffers, untouched.
    const keys = spy.views.filter((_, i) => i % 2 === 0);
    const values = spy.views.filter((_, i) => i % 2 === 1);
    expect(keys.filter((k) => k.length > 0)).toHaveLength(0);
    expect(values.filter((v) => v.length === 0)).toHaveLength(0);
    const p = target.partition(TP.topic, TP.partition);
    for (let i = 0; i < N; i++) {
      const k = `k${String(i).padStart(6, '0')}`;
      expect(p.get(k)).toEqual({ i, tag: 'v1+2', pad: 'x'.repeat(i % 40) });
    }
  });
});
