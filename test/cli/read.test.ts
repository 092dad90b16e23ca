// tidemark list, verify, inspect and export over checkpoints and a state
// directory built with the real library (test/fixtures/cli-data.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACCOUNTS, ROUND_OFFSETS } from '../fixtures/cli-data.js';
import { flipBit, sharedFixture, tidemark } from './support.js';

const fx = sharedFixture();

/** Every JSON line `tidemark export` prints for the state after `round` rounds. */
function expectedExport(round: 1 | 2): unknown[] {
  const lines: unknown[] = [];
  for (const partition of [0, 1]) {
    const keys = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`).sort();
    for (const key of keys) {
      const i = Number(key.slice(5));
      lines.push({ topic: 'orders', partition, scope: '', key, value: { count: round, sum: round === 1 ? i : 3 * i } });
    }
  }
  const pay = (scope: string, key: unknown, value: unknown, extra: object = {}) => ({
    topic: 'payments',
    partition: 0,
    scope,
    key,
    value,
    ...extra,
  });
  lines.push(
    pay('', 'every-type', {
      big: { $bigint: '12345678901234567890' },
      when: { $date: '2026-01-02T03:04:05.678Z' },
      bytes: { $binary: 'AAEC/w==' },
      tags: { $set: ['a', 'b'] },
      missing: { $undefined: true },
      notANumber: { $number: 'NaN' },
      looksTagged: { $object: { $date: 'not a date' } },
      floats: { $typedArray: 'Float64Array', values: [1.5, -2] },
      round,
    }),
    pay('', 'long-lived', 'expires in a week', { expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }),
    pay('', { $binary: Buffer.from([0xde, 0xad, 0xbe, 0xef]).toString('base64') }, `binary key, round ${round}`),
    pay('tenant-a', 'session-1', { round, started: { $date: '2026-01-02T03:04:05.678Z' } }),
    pay('tenant-a', 'session-2', [1, 'two', null]),
  );
  return lines;
}

describe('tidemark list', () => {
  it('shows every checkpoint with its status, partitions, offsets and sizes', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['list', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Checkpoints in ${checkpointsDir}: 2`);
    // Newest first.
    expect(r.stdout.indexOf(ids[1])).toBeGreaterThan(-1);
    expect(r.stdout.indexOf(ids[1])).toBeLessThan(r.stdout.indexOf(ids[0]));
    expect(r.stdout).toMatch(new RegExp(`${ids[1]}\\s+\\S+Z\\s+valid`));
    expect(r.stdout).toMatch(/orders:1\s+offset 260\s+20 entries\s+raw \d+ B\s+stored \d+ B/);
    expect(r.stdout).toMatch(/payments:0\s+offset 50\s+6 entries/);
    expect(r.stdout).toMatch(/3 partitions, 46 entries, raw [\d.]+ KiB, stored [\d.]+ KiB/);
  });

  it('--json: one document with every field', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['list', '--checkpoints', checkpointsDir, '--json']);
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc.location).toBe(checkpointsDir);
    expect(doc.quarantined).toEqual([]);
    expect(doc.checkpoints.map((c: any) => c.id)).toEqual([ids[1], ids[0]]);
    for (const [i, c] of doc.checkpoints.entries()) {
      const round = 2 - i;
      expect(c).toMatchObject({
        status: 'valid',
        reason: null,
        quarantined: false,
        schemaVersion: 1,
        encryption: { algorithm: 'none', keyFingerprint: null, keyAvailable: true },
        entries: 46,
      });
      expect(new Date(c.createdAt).toISOString()).toBe(c.createdAt);
      expect(c.rawBytes).toBeGreaterThan(0);
      expect(c.storedBytes).toBeGreaterThan(c.partitions.reduce((n: number, p: any) => n + p.storedBytes, 0));
      const offsets = Object.fromEntries(c.partitions.map((p: any) => [`${p.topic}:${p.partition}`, p.offset]));
      expect(offsets).toEqual(ROUND_OFFSETS[round - 1]);
      expect(c.partitions[0]).toMatchObject({
        topic: 'orders',
        partition: 0,
        entries: 20,
        file: 'orders.0.seg',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
  });

  it('an empty directory lists no checkpoint; a missing one is "not found" (exit 4)', async () => {
    const empty = path.join(fx.copy().root, 'empty');
    fs.mkdirSync(empty);
    const r = await tidemark(['list', '--checkpoints', empty, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ checkpoints: [], quarantined: [] });
    const missing = await tidemark(['list', '--checkpoints', path.join(empty, 'nope')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe(`tidemark: checkpoint directory ${path.join(empty, 'nope')} does not exist\n`);
    expect(fs.existsSync(path.join(empty, 'nope'))).toBe(false);
  });
});

describe('tidemark verify', () => {
  it('re-reads every checkpoint: exit 0 when all are valid', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['verify', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${ids[0]}\\s+valid`));
    expect(r.stdout).toContain('Summary: 2 checkpoints checked, 2 valid, 0 invalid.');
    const j = await tidemark(['verify', '--checkpoints', checkpointsDir, ids[0], '--json']);
    expect(j.code).toBe(0);
    expect(j.json()).toMatchObject({
      ok: true,
      checked: 1,
      valid: 1,
      invalid: 0,
      results: [{ id: ids[0], status: 'valid', checked: true }],
    });
    expect(j.json().results[0].partitions).toHaveLength(3);
    expect(j.json().results[0].bytesChecked).toBeGreaterThan(0);
  });

  it('exit 1 over a segment with a flipped bit, naming the checkpoint and the reason; nothing is quarantined', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'orders.1.seg'), 20, 3);
    const r = await tidemark(['verify', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${ids[1]}  CORRUPT: orders.1.seg: segment sha256 mismatch`);
    expect(r.stdout).toMatch(new RegExp(`${ids[0]}\\s+valid`));
    expect(r.stdout).toContain('Summary: 2 checkpoints checked, 1 valid, 1 invalid.');
    expect(r.stderr).toBe(`tidemark: 1 invalid checkpoint: ${ids[1]}\n`);

    const j = await tidemark(['verify', '--checkpoints', checkpointsDir, '--json']);
    expect(j.code).toBe(1);
    const doc = j.json();
    expect(doc).toMatchObject({ ok: false, checked: 2, valid: 1, invalid: 1 });
    const bad = doc.results.find((x: any) => x.id === ids[1]);
    expect(bad).toMatchObject({ status: 'corrupt', reason: 'orders.1.seg: segment sha256 mismatch' });
    expect(bad.partitions.map((p: any) => [p.file, p.ok])).toEqual([
      ['orders.0.seg', true],
      ['orders.1.seg', false],
      ['payments.0.seg', true],
    ]);
    // Only the good one, named: exit 0. Verify moved nothing.
    expect((await tidemark(['verify', '--checkpoints', checkpointsDir, ids[0]])).code).toBe(0);
    expect(fs.existsSync(path.join(checkpointsDir, 'quarantine'))).toBe(false);
    expect(fs.existsSync(path.join(checkpointsDir, ids[1], 'manifest'))).toBe(true);
  });

  it('a checkpoint whose manifest is damaged, and one with a missing segment, are named with their reasons', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'manifest'), 30);
    fs.rmSync(path.join(checkpointsDir, ids[0], 'payments.0.seg'));
    const r = await tidemark(['verify', '--checkpoints', checkpointsDir, '--json']);
    expect(r.code).toBe(1);
    expect(r.json().results.map((x: any) => [x.id, x.status, x.reason])).toEqual([
      [ids[1], 'corrupt', 'manifest checksum mismatch'],
      [ids[0], 'corrupt', 'segment payments.0.seg is missing'],
    ]);
  });

  it('an unknown id is "not found" (exit 4)', async () => {
    const { checkpointsDir } = fx.get();
    const r = await tidemark(['verify', '--checkpoints', checkpointsDir, '20200101T000000000Z-0123456789abcdef']);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(`tidemark: no checkpoint 20200101T000000000Z-0123456789abcdef in ${checkpointsDir}\n`);
  });
});

describe('tidemark inspect', () => {
  it('shows the manifest, each partition and decoded sample entries', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['inspect', '--checkpoints', checkpointsDir, ids[1], '--sample', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Checkpoint ${ids[1]}`);
    expect(r.stdout).toMatch(/status\s+valid/);
    expect(r.stdout).toMatch(/format\s+tidemark-checkpoint version 2/);
    expect(r.stdout).toMatch(/compression\s+zstd level 3/);
    expect(r.stdout).toMatch(/encryption\s+none/);
    expect(r.stdout).toMatch(/orders:1 {2}offset 260 {2}20 entries/);
    expect(r.stdout).toContain('first 2 of 20 entries (verified):');
    expect(r.stdout).toContain('"acct-0" = {"count":2,"sum":0}');
    expect(r.stdout).toContain('"acct-1" = {"count":2,"sum":3}');
    expect(r.stdout).not.toContain('"acct-10"');
  });

  it('--json: manifest, partitions and samples in export form', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark([
      'inspect',
      '--checkpoints',
      checkpointsDir,
      ids[0],
      '--partition',
      'payments:0',
      '--sample',
      '10',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = r.json();
    expect(doc.status).toBe('valid');
    expect(doc.checkpoint).toMatchObject({ id: ids[0], status: 'valid' });
    expect(doc.manifest).toMatchObject({
      format: 'tidemark-checkpoint',
      formatVersion: 2,
      id: ids[0],
      schemaVersion: 1,
      compression: { codec: 'zstd' },
    });
    expect(doc.manifest.partitions).toHaveLength(3);
    expect(doc.partitions).toHaveLength(1);
    const p = doc.partitions[0];
    expect(p).toMatchObject({ topic: 'payments', partition: 0, offset: '50', entries: 6, error: null });
    // Sample entries are what the store holds, expired ones included (inspect shows what is stored).
    expect(p.sample.map((e: any) => e.key)).toEqual([
      'every-type',
      'long-lived',
      'short-lived',
      { $binary: '3q2+7w==' },
      'session-1',
      'session-2',
    ]);
    const expected = expectedExport(1).filter((l: any) => l.topic === 'payments');
    expect(p.sample.filter((e: any) => e.key !== 'short-lived')).toEqual(expected);
  });

  it('a corrupt segment shows as the reason its entries are not shown (exit 1); unknown partition or id: exit 4', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'payments.0.seg'), 5);
    const r = await tidemark(['inspect', '--checkpoints', checkpointsDir, ids[1], '--json']);
    expect(r.code).toBe(1);
    const doc = r.json();
    expect(doc).toMatchObject({ status: 'corrupt', reason: 'payments:0: payments.0.seg: segment sha256 mismatch' });
    expect(doc.partitions.map((p: any) => p.error)).toEqual([
      null,
      null,
      'corrupt: payments.0.seg: segment sha256 mismatch',
    ]);
    expect(r.stderr).toContain(
      `tidemark: checkpoint ${ids[1]} is corrupt: payments:0: payments.0.seg: segment sha256 mismatch`,
    );

    const noPart = await tidemark(['inspect', '--checkpoints', checkpointsDir, ids[0], '--partition', 'orders:9']);
    expect(noPart.code).toBe(4);
    expect(noPart.stderr).toBe(`tidemark: checkpoint ${ids[0]} holds no partition orders:9\n`);
    const noId = await tidemark(['inspect', '--checkpoints', checkpointsDir, 'not-an-id']);
    expect(noId.code).toBe(4);
    expect(noId.stderr).toMatch(/^tidemark: "not-an-id" is not a checkpoint id/);
  });
});

describe('tidemark export', () => {
  it('from checkpoints: JSON lines of the newest checkpoint on stdout, messages on stderr', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['export', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(0);
    expect(r.jsonLines()).toEqual(expectedExport(2));
    expect(r.stderr).toContain(`exported orders:0 from ${ids[1]} (offset 150): 20 entries`);
    expect(r.stderr).toContain(`exported payments:0 from ${ids[1]} (offset 80): 5 entries`);
  });

  it('--include-expired adds entries whose TTL has passed', async () => {
    const { checkpointsDir } = fx.get();
    const r = await tidemark([
      'export',
      '--checkpoints',
      checkpointsDir,
      '--partition',
      'payments:0',
      '--include-expired',
    ]);
    expect(r.code).toBe(0);
    const lines = r.jsonLines();
    expect(lines).toHaveLength(6);
    expect(lines[2]).toMatchObject({ key: 'short-lived', value: 'expired long ago', expiresAt: expect.any(String) });
    expect(Date.parse(lines[2].expiresAt)).toBeLessThan(Date.now());
  });

  it('--checkpoint and --partition: one partition of an older checkpoint', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark([
      'export',
      '--checkpoints',
      checkpointsDir,
      '--checkpoint',
      ids[0],
      '--partition',
      'orders:1',
    ]);
    expect(r.code).toBe(0);
    expect(r.jsonLines()).toEqual(expectedExport(1).filter((l: any) => l.topic === 'orders' && l.partition === 1));
    const absent = await tidemark([
      'export',
      '--checkpoints',
      checkpointsDir,
      '--checkpoint',
      ids[0],
      '--partition',
      'orders:7',
    ]);
    expect(absent.code).toBe(4);
    expect(absent.stdout).toBe('');
  });

  it('from a state directory: the same lines as its newest checkpoint', async () => {
    const { stateDir } = fx.copy();
    const r = await tidemark(['export', '--state', stateDir]);
    expect(r.code).toBe(0);
    expect(r.jsonLines()).toEqual(expectedExport(2));
    expect(r.stderr).toContain(`exported orders:1 from ${stateDir} (offset 260): 20 entries`);
    const one = await tidemark(['export', '--state', stateDir, '--partition', 'orders:0']);
    expect(one.jsonLines()).toHaveLength(ACCOUNTS);
    const none = await tidemark(['export', '--state', path.join(stateDir, 'missing')]);
    expect(none.code).toBe(4);
    expect(none.stderr).toBe(`tidemark: no tidemark state in ${path.join(stateDir, 'missing')} (no state.mdb)\n`);
    expect(fs.existsSync(path.join(stateDir, 'missing'))).toBe(false);
  });

  it('falls back past a corrupt segment per partition, read-only, saying so on stderr', async () => {
    const { checkpointsDir, ids } = fx.copy();
    flipBit(path.join(checkpointsDir, ids[1], 'orders.1.seg'), 20);
    const r = await tidemark(['export', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(0);
    const lines = r.jsonLines();
    const round2 = expectedExport(2);
    const round1 = expectedExport(1);
    const part = (ls: any[], p: number) => ls.filter((l) => l.topic === 'orders' && l.partition === p);
    expect(part(lines, 0)).toEqual(part(round2, 0));
    expect(part(lines, 1)).toEqual(part(round1, 1));
    expect(r.stderr).toContain(`skipped ${ids[1]}: orders.1.seg: segment sha256 mismatch (left in place`);
    expect(r.stderr).toContain(`exported orders:1 from ${ids[0]}`);
    expect(fs.existsSync(path.join(checkpointsDir, 'quarantine'))).toBe(false);
    // Named explicitly: no fallback, exit 1; stdout holds only whole partitions.
    const named = await tidemark(['export', '--checkpoints', checkpointsDir, '--checkpoint', ids[1]]);
    expect(named.code).toBe(1);
    expect(named.jsonLines()).toEqual(part(round2, 0));
    expect(named.stderr).toContain(`tidemark: checkpoint ${ids[1]} is corrupt: orders.1.seg: segment sha256 mismatch`);
  });
});
