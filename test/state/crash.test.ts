import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { killHard, runTs } from '../helpers/child.js';
import { countingReference } from '../helpers/reference.js';
import { tmpDir } from '../helpers/tmp.js';

async function expectExactlyCommitted(dir: string): Promise<number> {
  const store = await StateStore.open({ path: dir });
  try {
    const offset = Number(store.offset('events', 0) ?? '0');
    const ref = countingReference(offset);
    const p = store.partition('events', 0);
    const got = new Map([...p.entries<{ count: number; sum: number }>()].map((e) => [e.key as string, e.value]));
    expect(got).toEqual(ref);
    return offset;
  } finally {
    await store.close();
  }
}

describe('a process killed with SIGKILL', () => {
  it('between puts and a commit: reopening gives exactly the last committed state and offset', async () => {
    const dir = path.join(tmpDir('crash'), 'state');
    const child = runTs('test/fixtures/counting-writer.ts', [dir, '100000', '3000']);
    const [, pausedAt] = await child.waitFor(/^PAUSED (\d+)$/);
    const lastCommit = child.lines.filter((l) => l.startsWith('COMMITTED ')).pop();
    await killHard(child);
    const offset = await expectExactlyCommitted(dir);
    expect(offset).toBe(Number(lastCommit?.split(' ')[1] ?? 0));
    expect(offset).toBeLessThan(Number(pausedAt)); // the paused batch's puts are gone with its offset
  });

  it('at random moments, five times: each restart resumes from a state that matches its offset exactly', async () => {
    const dir = path.join(tmpDir('crash'), 'state');
    const total = 60_000;
    let last = 0;
    for (let round = 0; round < 5; round++) {
      const child = runTs('test/fixtures/counting-writer.ts', [dir, String(total)]);
      await child.waitFor(/^START \d+$/);
      // let it commit a few batches, then kill it wherever it is
      const target = Math.min(total - 1, last + 2000 + Math.floor(Math.random() * 6000));
      await child.waitFor(/^COMMITTED (\d+)$/, (m) => Number(m[1]) >= target);
      await killHard(child);
      const offset = await expectExactlyCommitted(dir);
      expect(offset).toBeGreaterThanOrEqual(last);
      last = offset;
    }
    // and a final run finishes the stream exactly
    const finish = runTs('test/fixtures/counting-writer.ts', [dir, String(total)]);
    await finish.waitFor(/^DONE$/);
    expect(await finish.exited).toBe(0);
    expect(await expectExactlyCommitted(dir)).toBe(total);
  });
});
