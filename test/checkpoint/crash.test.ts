import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PublishStep } from '../../src/checkpoint/local-storage.js';
import { runTs, killHard } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { CRASH_PARTITIONS, roundEntries } from '../fixtures/checkpoint-data.js';
import { filesUnder, openRepo, openStore } from './support.js';

const steps: PublishStep[] = ['create', 'fsync', 'rename', 'dir-fsync', 'committed'];
const cases: Array<[PublishStep, string, string]> = [
  ...steps.map((s): [PublishStep, string, string] => [s, 'the second segment', 'orders\\.1\\.seg$']),
  ...steps.map((s): [PublishStep, string, string] => [s, 'the manifest', '/manifest$']),
];

describe('a crash at each publication step (SIGKILL of a writer paused there)', () => {
  it.each(cases)(
    'before "%s" of %s: never a checkpoint that lists valid without being complete',
    async (step, _, keyRe) => {
      const dir = tmpDir('ckcrash');
      const stateDir = path.join(dir, 'state');
      const ckDir = path.join(dir, 'checkpoints');
      const child = runTs('test/fixtures/checkpoint-writer.ts', [stateDir, ckDir, step, keyRe]);
      const [, firstId] = (await child.waitFor(/^FIRST (\S+)$/))!;
      await child.waitFor(/^PAUSED /);
      await killHard(child);

      const repo = openRepo(ckDir);
      const listed = await repo.list();
      expect(listed.at(-1)).toMatchObject({ id: firstId, status: 'valid' });
      const second = listed.find((c) => c.id !== firstId);
      // Only a published manifest makes the second checkpoint visible as valid.
      const manifestPublished = keyRe.includes('manifest') && (step === 'dir-fsync' || step === 'committed');
      if (manifestPublished) expect(second?.status).toBe('valid');
      else expect(second === undefined || second.status === 'incomplete', JSON.stringify(second)).toBe(true);
      // Every checkpoint listed valid verifies byte for byte.
      for (const v of await repo.verify()) {
        if (listed.find((c) => c.id === v.id)!.status === 'valid') expect(v.status, v.id).toBe('valid');
      }
      // Restore gives exactly the state of the newest valid checkpoint's round.
      const round = manifestPublished ? 2 : 1;
      const target = await openStore();
      const r = await repo.restore(target);
      expect(r.skipped).toEqual([]);
      for (const tp of CRASH_PARTITIONS) {
        expect(target.offset(tp.topic, tp.partition)).toBe(String(1000 * round));
        expect([...target.partition(tp.topic, tp.partition).entries()].map((e) => [e.key, e.value])).toEqual(
          roundEntries(round, tp.partition),
        );
      }
      // Retention clears the debris of the crashed write (temp files, incomplete checkpoints).
      await repo.prune({ incompleteAfterMs: 0 });
      const left = filesUnder(ckDir);
      expect(
        left.some((f) => /\.tmp-/.test(f)),
        left.join('\n'),
      ).toBe(false);
      expect((await repo.list()).every((c) => c.status === 'valid')).toBe(true);
      expect(fs.existsSync(path.join(ckDir, firstId!))).toBe(true);
    },
  );
});
