// The lifecycle as a Pipeline lives it (the table itself: lifecycle.test.ts).
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InProcessLog, InProcessSource, Pipeline, PipelineStateError, StateStore } from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 't';

async function setup(label: string): Promise<{ log: InProcessLog; store: StateStore }> {
  const log = new InProcessLog();
  log.createTopic(TOPIC, 1);
  log.append(TOPIC, [{ key: 'k', value: 'v', partition: 0 }]);
  const store = await StateStore.open({ path: path.join(tmpDir(label), 'state') });
  return { log, store };
}

const count = (_m: unknown, s: { update<T>(k: string, f: (v: T | undefined) => T): void }) =>
  s.update<number>('k', (n) => (n ?? 0) + 1);

describe('the pipeline lifecycle', () => {
  it('refuses a second start with a PipelineStateError, and a start after the stop', async () => {
    const { log, store } = await setup('life-twice');
    const pipeline = new Pipeline({ source: new InProcessSource({ log, topics: [TOPIC] }), store, handler: count });
    await pipeline.start();
    await expect(pipeline.start()).rejects.toThrow(PipelineStateError);
    await expect(pipeline.start()).rejects.toThrow('pipeline cannot start: it is running');
    await pipeline.stop();
    await expect(pipeline.start()).rejects.toThrow('pipeline cannot start: it is stopped');
    await expect(pipeline.done).resolves.toBeUndefined();
  });

  it('stops before it ever started: the store is closed and done resolves', async () => {
    const { log, store } = await setup('life-unstarted');
    const pipeline = new Pipeline({ source: new InProcessSource({ log, topics: [TOPIC] }), store, handler: count });
    await pipeline.stop();
    expect(store.closed).toBe(true);
    await expect(pipeline.done).resolves.toBeUndefined();
    expect(pipeline.ready).toBe(false);
  });

  it('a source that cannot start: start() rejects with its error, done rejects with it, the store is closed', async () => {
    const { log, store } = await setup('life-nostart');
    const source = new InProcessSource({ log, topics: [TOPIC] });
    const broken = new Error('no broker');
    source.start = async () => {
      throw broken;
    };
    const failed: Error[] = [];
    const pipeline = new Pipeline({ source, store, handler: count, observers: [{ failed: (e) => failed.push(e) }] });
    await expect(pipeline.start()).rejects.toBe(broken);
    await expect(pipeline.done).rejects.toBe(broken);
    expect(failed).toEqual([broken]);
    expect(store.closed).toBe(true);
    await pipeline.stop(); // after a failure: settles, without throwing again
  });

  it('a stop while the source starts: start() resolves, the pipeline ends stopped, never running', async () => {
    const { log, store } = await setup('life-stopstart');
    const source = new InProcessSource({ log, topics: [TOPIC] });
    const start = source.start.bind(source);
    let pipeline!: Pipeline;
    let stopping: Promise<void> | undefined;
    source.start = async (listener) => {
      stopping = pipeline.stop(); // as a signal during start-up would
      await start(listener);
    };
    pipeline = new Pipeline({ source, store, handler: count });
    await pipeline.start();
    await stopping;
    await expect(pipeline.done).resolves.toBeUndefined();
    expect(pipeline.ready).toBe(false);
    expect(store.closed).toBe(true);
  });
});
