// Runs docs/RUNBOOK.md's `sh` blocks, in order and as written, against a
// real consumer's state and checkpoints: the newest checkpoint corrupted and
// a stale lock file left in the state directory by a dead process.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CheckpointRepository,
  InProcessLog,
  InProcessSource,
  LocalDirectoryStorage,
  Pipeline,
  StateStore,
} from '../src/index.js';
import { accountRecord, balanceHandler } from './helpers/accounts.js';
import { tmpDir } from './helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function runbookScript(): string {
  const doc = fs.readFileSync(path.join(root, 'docs', 'RUNBOOK.md'), 'utf8');
  const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length).toBeGreaterThanOrEqual(8);
  return blocks.map((b, i) => `echo "### runbook block ${i + 1}"\n${b}`).join('\n');
}

/** A consumer's history: three rounds of records, a checkpoint after each, then a graceful stop. */
async function consumerHistory(state: string, checkpoints: string): Promise<void> {
  const log = new InProcessLog();
  log.createTopic('payments', 2);
  const store = await StateStore.open({ path: state });
  const repository = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: checkpoints }) });
  const pipeline = new Pipeline({
    source: new InProcessSource({ log, topics: ['payments'] }),
    store,
    handler: balanceHandler,
    handleSignals: false,
    commitInterval: { records: 100, ms: 20 },
    checkpoints: { repository, coordinator: { intervalMs: 3_600_000, retention: { keepLast: 10 } } },
  });
  await pipeline.start();
  let n = 0;
  for (let round = 0; round < 3; round++) {
    log.append(
      'payments',
      Array.from({ length: 500 }, () => accountRecord(n++)),
    );
    await expect
      .poll(() => store.offsets().reduce((sum, o) => sum + Number(o.offset), 0), { timeout: 10_000, interval: 5 })
      .toBe(n);
    await pipeline.checkpoints!.checkpoint();
  }
  await pipeline.stop();
}

describe('docs/RUNBOOK.md', () => {
  it('its commands work as written: verify, fall back past a corrupt checkpoint, restore, move a partition', async () => {
    const dir = tmpDir('runbook');
    const env = {
      STATE: path.join(dir, 'state'),
      CHECKPOINTS: path.join(dir, 'checkpoints'),
      NEW_STATE: path.join(dir, 'new-machine', 'state'),
    };
    await consumerHistory(env.STATE, env.CHECKPOINTS);
    const repo = new CheckpointRepository({ storage: new LocalDirectoryStorage({ path: env.CHECKPOINTS }) });
    const before = await repo.list();
    expect(before.length).toBeGreaterThanOrEqual(4); // three rounds and the final one
    const [newest, previous] = before;
    const oldest = before[before.length - 1]!;
    // The newest checkpoint is corrupted: one bit of payments:0's segment.
    const seg = path.join(env.CHECKPOINTS, newest!.id, newest!.partitions.find((p) => p.partition === 0)!.file);
    const bytes = fs.readFileSync(seg);
    bytes[bytes.length >> 1]! ^= 0x01;
    fs.writeFileSync(seg, bytes);
    // The machine died: a stale lock with a dead pid is left behind.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(
      path.join(env.STATE, 'tidemark.lock'),
      JSON.stringify({ pid: Number(dead.stdout), host: 'x', since: 'then' }),
    );

    // `tidemark` as an operator has it on PATH.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, 'tidemark'),
      `#!/bin/sh\nexec "${process.execPath}" --import tsx "${path.join(root, 'src', 'cli', 'main.ts')}" "$@"\n`,
      { mode: 0o755 },
    );
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', runbookScript()], {
      cwd: root,
      env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const output = `${r.stdout}\n${r.stderr}`;
    expect(r.status, output).toBe(0);

    // 2: the stale lock was recognised
    expect(output).toContain('the lock is stale');
    // 3: verify named the corrupt checkpoint and exited 1
    expect(output).toMatch(new RegExp(`${newest!.id}\\s+CORRUPT: payments.0.seg: segment sha256 mismatch`));
    expect(output).toContain('verify exited 1');
    // 5: restore passed over it (quarantined) and restored the previous one...
    expect(output).toMatch(new RegExp(`skipped ${newest!.id}`, 'i'));
    expect(output).toContain(`restored payments:0 from ${previous!.id}`);
    expect((await repo.listQuarantined()).map((c) => c.id)).toEqual([newest!.id]);
    // ...then, with --force, the checkpoint chosen in step 4 (the oldest valid one)
    const store = await StateStore.open({ path: env.STATE });
    expect(store.offsets().map((o) => o.offset)).toEqual(oldest.partitions.map((p) => p.offset));
    await store.close();
    // the old state was kept aside, not deleted
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith('state.before-restore-'));
    expect(aside).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, aside[0]!, 'state.mdb'))).toBe(true);
    // moving a partition: payments:1 alone, at the newest valid checkpoint's offset, and 3 exported lines
    const moved = await StateStore.open({ path: env.NEW_STATE });
    expect(moved.offsets()).toEqual([
      { topic: 'payments', partition: 1, offset: previous!.partitions.find((p) => p.partition === 1)!.offset },
    ]);
    await moved.close();
    const exported = output.split('\n').filter((l) => l.startsWith('{"topic":"payments","partition":1'));
    expect(exported).toHaveLength(3);
    await repo.close();
  }, 300_000);
});
