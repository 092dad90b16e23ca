// tidemark restore and prune, on copies of checkpoints written by the real
// library; the restored state is read back with the real StateStore.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateStore } from '../../src/index.js';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, openRepo, openStore } from '../checkpoint/support.js';
import { flipBit, sharedFixture, tidemark } from './support.js';

const fx = sharedFixture();

/** Every partition's offset and raw entries (hex), read with the library itself. */
async function stateOf(dir: string): Promise<Record<string, { offset: string | undefined; entries: string[] }>> {
  const store = await StateStore.open({ path: dir, sweepIntervalMs: 0 });
  try {
    store.stats(); // opens each partition's database before the snapshot (see src/cli/commands/export.ts)
    const snap = await store.snapshot();
    try {
      const out: Record<string, { offset: string | undefined; entries: string[] }> = {};
      for (const tp of snap.partitions()) {
        out[`${tp.topic}:${tp.partition}`] = {
          offset: snap.offset(tp),
          entries: [...snap.entries(tp)].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`),
        };
      }
      return out;
    } finally {
      snap.release();
    }
  } finally {
    await store.close();
  }
}

describe('tidemark restore', () => {
  it('restores each partition from the checkpoint holding it furthest ahead into a new state directory, byte for byte, and prints the resume offsets', async () => {
    const { checkpointsDir, stateDir, ids } = fx.copy();
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `restored orders:0 from ${ids[1]} at offset 150: 20 entries`,
      `restored orders:1 from ${ids[1]} at offset 260: 20 entries`,
      `restored payments:0 from ${ids[1]} at offset 80: 6 entries`,
      `The consumer will resume from (state directory ${target}):`,
      '  orders:0    150',
      '  orders:1    260',
      '  payments:0  80',
      '',
    ]);
    // The source state directory is the state of the newest checkpoint.
    expect(await stateOf(target)).toEqual(await stateOf(stateDir));
    expect(fs.statSync(target).mode & 0o777).toBe(0o700);
  });

  it('--json: restored, skipped, missing and resume offsets', async () => {
    const { checkpointsDir, ids } = fx.copy();
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      target,
      '--checkpoint',
      ids[0],
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({
      stateDir: target,
      restored: [
        { topic: 'orders', partition: 0, checkpointId: ids[0], offset: '100', entries: 20 },
        { topic: 'orders', partition: 1, checkpointId: ids[0], offset: '200', entries: 20 },
        { topic: 'payments', partition: 0, checkpointId: ids[0], offset: '50', entries: 6 },
      ],
      skipped: [],
      missing: [],
      keptLocal: [],
      resumeFrom: [
        { topic: 'orders', partition: 0, offset: '100' },
        { topic: 'orders', partition: 1, offset: '200' },
        { topic: 'payments', partition: 0, offset: '50' },
      ],
    });
  });

  it('refuses to overwrite existing state without --force (exit 5), and replaces it with --force', async () => {
    const { checkpointsDir, stateDir, ids } = fx.copy();
    const before = await stateOf(stateDir);
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', stateDir, '--checkpoint', ids[0]]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(
      `tidemark: ${stateDir} already holds state for orders:0, orders:1, payments:0; refusing to overwrite it without --force ` +
        '(stop the consumer first; restore replaces each restored partition whole)\n',
    );
    expect(await stateOf(stateDir)).toEqual(before);

    const forced = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      stateDir,
      '--checkpoint',
      ids[0],
      '--force',
      '--json',
    ]);
    expect(forced.code).toBe(0);
    expect(forced.json().resumeFrom.map((o: any) => o.offset)).toEqual(['100', '200', '50']);
    const after = await stateOf(stateDir);
    expect(after['orders:0']!.offset).toBe('100');
    expect(after['orders:0']!.entries).not.toEqual(before['orders:0']!.entries);
  });

  it('refuses a non-empty directory that holds no state unless --force', async () => {
    const { checkpointsDir } = fx.copy();
    const target = tmpDir('tm-cli-restore');
    fs.writeFileSync(path.join(target, 'notes.txt'), 'not state');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(
      /is not empty and holds no tidemark state \(notes\.txt\); check the path, or pass --force/,
    );
    expect(fs.readdirSync(target)).toEqual(['notes.txt']);
  });

  it('refuses a state directory held by another process, naming its pid (exit 3)', async () => {
    const { checkpointsDir } = fx.copy();
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const holder = runTs('test/fixtures/store-holder.ts', [target]);
    const [, pid] = await holder.waitFor(/^OPEN (\d+)$/);
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target, '--force']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      new RegExp(
        `^tidemark: state directory \\S+ is locked by pid ${pid} on \\S+ \\(since [^)]+\\); stop that process first`,
      ),
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // Export reads a held state directory read-only, beside its owner.
    const e = await tidemark(['export', '--state', target]);
    expect(e.code).toBe(0);
    expect(e.stderr).not.toContain('locked');
    holder.proc.stdin!.end();
    await holder.waitFor(/^CLOSED$/);
    expect(await holder.exited).toBe(0);
    // Once it is gone, the same restore goes through (the holder left an empty store behind).
    expect((await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target])).code).toBe(0);
  });

  it('--partition restores one partition only, from the checkpoint holding it furthest ahead', async () => {
    const { checkpointsDir, stateDir, ids } = fx.copy();
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      target,
      '--partition',
      'payments:0',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc.restored).toEqual([{ topic: 'payments', partition: 0, checkpointId: ids[1], offset: '80', entries: 6 }]);
    expect(doc.resumeFrom).toEqual([{ topic: 'payments', partition: 0, offset: '80' }]);
    const restored = await stateOf(target);
    expect(Object.keys(restored)).toEqual(['payments:0']);
    expect(restored['payments:0']).toEqual((await stateOf(stateDir))['payments:0']);

    // A second partition into the same directory: the first is not "existing state" for it.
    const second = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      target,
      '--partition',
      'orders:1',
      '--checkpoint',
      ids[0],
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`restored orders:1 from ${ids[0]} at offset 200: 20 entries`);
    expect(second.stdout).toMatch(/orders:1\s+200\n\s+payments:0\s+80/);

    // A partition no checkpoint holds: exit 4, nothing created.
    const none = path.join(tmpDir('tm-cli-restore'), 'none');
    const missing = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      none,
      '--partition',
      'orders:9',
    ]);
    expect(missing.code).toBe(4);
    expect(missing.stdout).toContain('missing orders:9: no valid checkpoint holds it');
    expect(fs.existsSync(none)).toBe(false);
  });

  it('takes per partition the checkpoint the consumer would recover: the highest offset, not the newest (issue 8, item 13)', async () => {
    // A member that restored slowly, or handed over late, wrote a newer
    // checkpoint holding orders:0 behind the one another member wrote.
    const dir = tmpDir('tm-cli-newest');
    const checkpointsDir = path.join(dir, 'checkpoints');
    const repo = openRepo(checkpointsDir);
    const ahead = await openStore(path.join(dir, 'ahead'));
    await fill(ahead, { topic: 'orders', partition: 0 }, 12, 10, 'ahead');
    const c1 = await checkpointNow(ahead, repo);
    const behind = await openStore(path.join(dir, 'behind'));
    await fill(behind, { topic: 'orders', partition: 0 }, 5, 5, 'behind');
    await fill(behind, { topic: 'orders', partition: 1 }, 7, 7, 'behind');
    const c2 = await checkpointNow(behind, repo);
    expect(c2.id > c1.id).toBe(true);
    await ahead.close();
    await behind.close();

    const target = path.join(dir, 'restored');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `restored orders:0 from ${c1.id} at offset 10: 12 entries`,
      `restored orders:1 from ${c2.id} at offset 7: 7 entries`,
      `The consumer will resume from (state directory ${target}):`,
      '  orders:0  10',
      '  orders:1  7',
      '',
    ]);
    const state = await stateOf(target);
    expect(state['orders:0']!.offset).toBe('10');
    expect(state['orders:0']!.entries).toEqual((await stateOf(path.join(dir, 'ahead')))['orders:0']!.entries);

    const one = path.join(dir, 'one');
    const p = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      one,
      '--partition',
      'orders:0',
      '--json',
    ]);
    expect(p.code).toBe(0);
    expect(p.json().restored).toEqual([
      { topic: 'orders', partition: 0, checkpointId: c1.id, offset: '10', entries: 12 },
    ]);
  });

  it("schema versions (issue 8, item 12): mixed ones are refused without --migrations; with the consumer's migrations older ones are migrated; newer ones refused", async () => {
    const dir = tmpDir('tm-cli-schema');
    const checkpointsDir = path.join(dir, 'checkpoints');
    const repo = openRepo(checkpointsDir);
    const v1 = await StateStore.open({ path: path.join(dir, 'v1'), sweepIntervalMs: 0, schemaVersion: 1 });
    await fill(v1, { topic: 'orders', partition: 0 }, 4, 10, 'old');
    const c1 = await checkpointNow(v1, repo);
    await v1.close();
    const v2 = await StateStore.open({
      path: path.join(dir, 'v2'),
      sweepIntervalMs: 0,
      schemaVersion: 2,
      migrations: { 1: (v: object) => ({ ...v, v2: true }) },
    });
    v2.partition('orders', 1).put('k', { tag: 'new', v2: true });
    await v2.commit([{ topic: 'orders', partition: 1, offset: '7' }]);
    const c2 = await checkpointNow(v2, repo, [{ topic: 'orders', partition: 1 }]);
    await v2.close();

    const target = path.join(dir, 'restored');
    const refused = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toBe(
      `tidemark: the checkpoints to restore hold schema versions 1 (orders:0 in ${c1.id}) and 2 (orders:1 in ${c2.id}); ` +
        "one state directory holds one version: pass --migrations <module> (the consumer's schemaVersion and migrations) to migrate the older ones as they are restored\n",
    );
    expect(fs.existsSync(target)).toBe(false);

    const module = path.join(dir, 'migrations.mjs');
    fs.writeFileSync(
      module,
      'export const schemaVersion = 2;\nexport const migrations = { 1: (v) => ({ ...v, v2: true }) };\n',
    );
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target, '--migrations', module]);
    expect(r.stdout).toContain(
      `restored orders:0 from ${c1.id} at offset 10 (migrated from schema version 1 to 2): 4 entries`,
    );
    expect(r.stdout).toContain(`restored orders:1 from ${c2.id} at offset 7: 1 entry`);
    expect(r.code).toBe(0);
    const store = await StateStore.open({ path: target, sweepIntervalMs: 0, schemaVersion: 2 });
    expect(store.partition('orders', 0).get('k000001')).toEqual({ i: 1, tag: 'old', pad: 'x', v2: true });
    expect(store.partition('orders', 1).get('k')).toEqual({ tag: 'new', v2: true });
    await store.close();

    // A checkpoint newer than the code's schema: refused, clearly, nothing created.
    fs.writeFileSync(module, 'export const schemaVersion = 1;\nexport const migrations = {};\n');
    const newer = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      path.join(dir, 'none'),
      '--migrations',
      module,
    ]);
    expect(newer.code).toBe(7);
    expect(newer.stderr).toMatch(
      new RegExp(
        `^tidemark: checkpoint ${c2.id} holds state of schema version 2, newer than this store's 1; refusing to restore it`,
      ),
    );
    expect(fs.existsSync(path.join(dir, 'none'))).toBe(false);
    // A module without the exports: a usage error.
    fs.writeFileSync(module, 'export default {};\n');
    const bad = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      path.join(dir, 'none'),
      '--migrations',
      module,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /--migrations .*migrations\.mjs must export "schemaVersion" \(an integer >= 1\) and "migrations"/,
    );
  });

  it('falls back past a corrupt checkpoint: quarantines it, prints it as skipped with its reason', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'orders.1.seg'), 20, 2);
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`skipped ${ids[1]}: orders.1.seg: segment sha256 mismatch (quarantined)`);
    expect(lines.slice(1, 4)).toEqual([
      `restored orders:0 from ${ids[0]} at offset 100: 20 entries`,
      `restored orders:1 from ${ids[0]} at offset 200: 20 entries`,
      `restored payments:0 from ${ids[0]} at offset 50: 6 entries`,
    ]);
    expect(r.stdout).toMatch(/orders:0\s+100\n\s+orders:1\s+200\n\s+payments:0\s+50\n$/);
    // Quarantined, never deleted: list shows it apart with the reason.
    const list = (await tidemark(['list', '--checkpoints', checkpointsDir, '--json'])).json();
    expect(list.checkpoints.map((c: any) => c.id)).toEqual([ids[0]]);
    expect(list.quarantined).toHaveLength(1);
    expect(list.quarantined[0]).toMatchObject({
      id: ids[1],
      quarantined: true,
      quarantine: { reason: 'orders.1.seg: segment sha256 mismatch' },
    });
    const text = await tidemark(['list', '--checkpoints', checkpointsDir]);
    expect(text.stdout).toMatch(
      new RegExp(
        `Quarantined[^\\n]*\\n\\s+${ids[1]}\\s+\\S+\\s+quarantined at \\S+ by \\S+ pid \\d+: orders\\.1\\.seg: segment sha256 mismatch`,
      ),
    );
  });

  it('the corrupt checkpoint named with --checkpoint: exit 1, nothing restored', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'payments.0.seg'), 3);
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target, '--checkpoint', ids[1]]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tidemark: checkpoint ${ids[1]} is corrupt: payments:0: segment sha256 mismatch\n`);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('no valid checkpoint at all: exit 4, each one skipped with its reason', async () => {
    const { checkpointsDir, ids } = fx.copy();
    for (const id of ids) flipBit(path.join(checkpointsDir, id, 'orders.0.seg'), 1);
    const target = path.join(tmpDir('tm-cli-restore'), 'state');
    const r = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`skipped ${ids[1]}: orders.0.seg: segment sha256 mismatch (quarantined)`);
    expect(r.stdout).toContain(`skipped ${ids[0]}: orders.0.seg: segment sha256 mismatch (quarantined)`);
    expect(r.stderr).toMatch(
      /^tidemark: nothing was restored: no valid checkpoint in \S+ \(2 checkpoints skipped\)\n$/,
    );
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('tidemark prune', () => {
  it('--dry-run changes nothing; --keep 1 deletes the older checkpoint and keeps the newest', async () => {
    const { checkpointsDir, ids } = fx.copy();
    const dry = await tidemark(['prune', '--checkpoints', checkpointsDir, '--keep', '1', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would delete ${ids[0]}`);
    expect(dry.stdout).toContain(`keep ${ids[1]}: newest valid checkpoint`);
    expect(fs.existsSync(path.join(checkpointsDir, ids[0], 'manifest'))).toBe(true);

    const r = await tidemark(['prune', '--checkpoints', checkpointsDir, '--keep', '1', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({
      dryRun: false,
      deleted: [ids[0]],
      deletedIncomplete: [],
      quarantined: [],
      kept: [{ id: ids[1], why: 'newest valid checkpoint' }],
      cleaned: [],
    });
    expect(fs.existsSync(path.join(checkpointsDir, ids[0]))).toBe(false);
    expect(
      (await tidemark(['list', '--checkpoints', checkpointsDir, '--json'])).json().checkpoints.map((c: any) => c.id),
    ).toEqual([ids[1]]);
  });

  it('--max-age deletes what is older, never the newest valid checkpoint; corrupt ones are quarantined', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'manifest'), 12);
    const r = await tidemark(['prune', '--checkpoints', checkpointsDir, '--keep', '5', '--max-age', '1ms']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`quarantine ${ids[1]} (corrupt)`);
    expect(r.stdout).toContain(`keep ${ids[0]}: newest valid checkpoint`);
    expect(r.stdout).toMatch(/Deleted 0 checkpoints, quarantined 1, kept 1\.\n$/);
    expect(fs.existsSync(path.join(checkpointsDir, 'quarantine', ids[1], 'manifest'))).toBe(true);
  });
});
