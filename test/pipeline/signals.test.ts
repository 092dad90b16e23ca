import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  ConfigError,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
} from '../../src/index.js';
import { accountRecord, balanceHandler, reference, type Balance } from '../helpers/accounts.js';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';

describe.each(['SIGTERM', 'SIGINT'] as const)('the pipeline on %s', (signal) => {
  it('finishes the record in flight, commits, writes a final checkpoint, closes, then exits by the signal', async () => {
    const dir = tmpDir('sig');
    const state = path.join(dir, 'state');
    const checkpoints = path.join(dir, 'checkpoints');
    const child = runTs('test/fixtures/signal-pipeline.ts', [state, checkpoints, '20000']);
    await child.waitFor(/^STARTED /);
    await child.waitFor(/^COMMITTING$/); // mid-stream
    child.proc.kill(signal);
    expect(await child.exited).toBe(signal); // the signal is re-raised after the graceful stop

    const store = await StateStore.open({ path: state }); // the lock was released
    const offsets = store.offsets();
    expect(offsets).toHaveLength(2);
    // exactly the records before each committed offset, no more, no less
    const processed: Array<{ value: string }> = [];
    const byPartition = new Map<number, number>(offsets.map((o) => [o.partition, Number(o.offset)]));
    const seen = new Map<number, number>();
    // the in-process log places keys the same way every time: rebuild it to know each record's offset
    const log = new InProcessLog();
    log.createTopic('payments', 2);
    const placed = log.append(
      'payments',
      Array.from({ length: 20000 }, (_, i) => accountRecord(i)),
    );
    placed.forEach((p, i) => {
      const next = seen.get(p.partition) ?? 0;
      if (next < byPartition.get(p.partition)!) processed.push(accountRecord(i));
      seen.set(p.partition, next + 1);
    });
    expect(processed.length).toBeLessThan(20000); // it really stopped mid-stream
    const got = new Map<string, Balance>();
    for (const o of offsets)
      for (const e of store.partition('payments', o.partition).entries<Balance>()) got.set(e.key as string, e.value);
    expect(got).toEqual(reference(processed));
    await store.close();

    // the final checkpoint holds the same offsets
    const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: checkpoints }) });
    const [newest] = await repo.list();
    expect(newest?.status).toBe('valid');
    expect(newest!.partitions.map((p) => ({ partition: p.partition, offset: p.offset }))).toEqual(
      offsets.map((o) => ({ partition: o.partition, offset: o.offset })),
    );
    await repo.close();
  });
});

describe('signal handlers are opt-in', () => {
  it.each([
    ['by default', undefined, 0],
    ['with handleSignals: false', false, 0],
    ['with handleSignals: true', true, 1],
  ] as const)(
    '%s, a running pipeline adds %s SIGTERM and SIGINT handler(s), removed when it stops',
    async (_label, handleSignals, added) => {
      const log = new InProcessLog();
      log.createTopic('payments', 1);
      log.append('payments', [accountRecord(0)]);
      const store = await StateStore.open({ path: path.join(tmpDir('sig-opt'), 'state') });
      const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') };
      const pipeline = new Pipeline({
        source: new InProcessSource({ log, topics: ['payments'] }),
        store,
        handler: balanceHandler,
        ...(handleSignals === undefined ? {} : { handleSignals }),
      });
      await pipeline.start();
      expect(process.listenerCount('SIGTERM')).toBe(before.term + added);
      expect(process.listenerCount('SIGINT')).toBe(before.int + added);
      await pipeline.stop();
      expect(process.listenerCount('SIGTERM')).toBe(before.term);
      expect(process.listenerCount('SIGINT')).toBe(before.int);
    },
  );
});

describe('handleSignals that is not a boolean', () => {
  it('is refused with a ConfigError naming the option, and installs nothing', async () => {
    const log = new InProcessLog();
    log.createTopic('payments', 1);
    const store = await StateStore.open({ path: path.join(tmpDir('sig-bad'), 'state') });
    try {
      const before = process.listenerCount('SIGTERM');
      expect(
        () =>
          new Pipeline({
            source: new InProcessSource({ log, topics: ['payments'] }),
            store,
            handler: balanceHandler,
            handleSignals: 'yes' as never,
          }),
      ).toThrow(new ConfigError('"handleSignals" must be a boolean, got yes'));
      expect(process.listenerCount('SIGTERM')).toBe(before);
    } finally {
      await store.close();
    }
  });
});
