import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InProcessLog, InProcessSource, Pipeline, StateStore } from '../../src/index.js';
import { accountRecord, balanceHandler } from '../helpers/accounts.js';
import { tmpDir } from '../helpers/tmp.js';

// Issue 8, item 14 (one way to look stalled): the group's committed offsets
// stayed far behind while the consumer sat idle. Source commits follow the
// durable commit without being awaited, so a crash can lose them; a
// partition whose state is already at the end of its log then never
// committed again, and the group offset never caught up.
describe('the group offsets after a recovery', () => {
  it('are brought up to the recovered state, with no new record to process', async () => {
    const log = new InProcessLog();
    log.createTopic('t', 3);
    log.append(
      't',
      Array.from({ length: 900 }, (_, i) => accountRecord(i)),
    );
    const state = path.join(tmpDir('go'), 'state');
    const open = async (source: InProcessSource) => {
      const pipeline = new Pipeline({
        source,
        store: await StateStore.open({ path: state }),
        handler: balanceHandler,
        handleSignals: false,
      });
      await pipeline.start();
      return pipeline;
    };
    const ends = [0, 1, 2].map((partition) => log.endOffset({ topic: 't', partition }));
    const first = await open(new InProcessSource({ log, topics: ['t'] }));
    await expect.poll(() => first.positions().map((p) => p.offset), { timeout: 10_000, interval: 5 }).toEqual(ends);
    await first.stop();

    // A source whose group lost every commit (like commits a SIGKILL cut off).
    const source = new InProcessSource({ log, topics: ['t'] });
    const second = await open(source);
    await expect
      .poll(() => [0, 1, 2].map((p) => source.committed.get(`t:${p}`)), { timeout: 5000, interval: 5 })
      .toEqual(ends);
    await second.stop();
  });
});
