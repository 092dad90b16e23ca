// Issue 11: fail() used to start the shutdown from inside the processing
// lock, while the batch that failed still held it; the shutdown then waited
// on that lock (lock.onIdle) and stopped the source, flushed and closed
// under the batch. These tests pin the order a failing batch must see: the
// batch that failed returns, and only then is the source stopped and the
// store closed; the pipeline settles (no hang) with the handler's error.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  HandlerFailedError,
  InProcessLog,
  InProcessSource,
  Pipeline,
  StateStore,
  type Source,
  type SourceListener,
} from '../../src/index.js';
import { tmpDir } from '../helpers/tmp.js';

const TOPIC = 't';

// An InProcessSource that logs when a batch callback starts and returns and
// when the pipeline stops it.
function tracing(inner: InProcessSource, events: string[]): Source {
  return {
    kind: inner.kind,
    start: (listener: SourceListener) =>
      inner.start({
        ...listener,
        batch: async (batch, control) => {
          events.push(`batch ${batch.records[0]!.offset} begins`);
          try {
            await listener.batch(batch, control);
          } finally {
            events.push(`batch ${batch.records[0]!.offset} returns`);
          }
        },
      }),
    seek: (tp, offset) => inner.seek(tp, offset),
    logStartOffsets: (tps) => inner.logStartOffsets(tps),
    logEndOffsets: (tps) => inner.logEndOffsets(tps),
    commit: (offsets) => inner.commit(offsets),
    stop: async () => {
      events.push('source stop');
      await inner.stop();
      events.push('source stopped');
    },
  };
}

describe('a handler failure inside a batch (the batch holds the processing lock)', () => {
  it.each([
    ['no retries', 0],
    ['after retries', 2],
  ])('fails the pipeline after the batch returned, never under it (%s)', async (_label, retries) => {
    const log = new InProcessLog();
    log.createTopic(TOPIC, 1);
    log.append(
      TOPIC,
      Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 3}`, value: String(i), partition: 0 })),
    );
    const events: string[] = [];
    const store = await StateStore.open({ path: path.join(tmpDir('fail-lock'), 'state') });
    const close = store.close.bind(store);
    store.close = async () => {
      events.push('store close');
      await close();
    };
    const pipeline = new Pipeline({
      source: tracing(new InProcessSource({ log, topics: [TOPIC], maxBatchRecords: 10 }), events),
      store,
      handler: (m, s) => {
        if (m.offset === '14') throw new Error('poison');
        s.update<number>(m.key!.toString(), (n) => (n ?? 0) + 1);
      },
      handleSignals: false,
      commitInterval: { records: 5, ms: 60_000 },
      errors: { retries, backoffMs: 1 },
      observers: [{ failed: (e) => events.push(`failed ${e.constructor.name}`) }],
    });
    await pipeline.start();
    // Settles: a shutdown that waited on the lock its own batch holds would hang here.
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      pipeline.done.then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve('hung'), 10_000);
      }),
    ]);
    clearTimeout(timer);
    expect(outcome).toBeInstanceOf(HandlerFailedError);
    expect((outcome as HandlerFailedError).record.offset).toBe('14');
    // The batch that failed returns before the source is stopped or the store closed.
    const failing = events.indexOf('batch 10 returns');
    expect(failing, events.join('\n')).toBeGreaterThan(-1);
    expect(events.indexOf('failed HandlerFailedError'), events.join('\n')).toBeLessThan(failing);
    expect(events.indexOf('source stop'), events.join('\n')).toBeGreaterThan(failing);
    expect(events.indexOf('store close'), events.join('\n')).toBeGreaterThan(events.indexOf('source stopped'));
    // Committed up to the record before the poison one.
    const reopened = await StateStore.open({ path: store.path });
    try {
      expect(reopened.offset(TOPIC, 0)).toBe('14');
    } finally {
      await reopened.close();
    }
  });
});
