// Every CLI command on what the demo (examples/demo.ts) leaves behind,
// including verify and restore over a checkpoint this test corrupts (issue 5,
// "Done when").
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { flipBit, tidemark } from './support.js';

describe("the CLI on the demo's output", () => {
  it('list, verify, inspect, export, restore past a corrupted checkpoint, prune', async () => {
    const dir = tmpDir('tm-cli-demo');
    const demo = runTs('examples/demo.ts', ['--dir', dir, '--events', '4000', '--users', '200']);
    demo.proc.stdin!.end();
    expect(await demo.exited, demo.stderr()).toBe(0);
    const checkpointsDir = path.join(dir, 'checkpoints');
    const stateDir = path.join(dir, 'state');

    const list = await tidemark(['list', '--checkpoints', checkpointsDir, '--json']);
    expect(list.code).toBe(0);
    const checkpoints = list.json().checkpoints as Array<{
      id: string;
      status: string;
      partitions: Array<{ topic: string; partition: number; offset: string | null; file: string }>;
    }>;
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    expect(checkpoints.every((c) => c.status === 'valid')).toBe(true);
    const [newest, previous] = checkpoints as [(typeof checkpoints)[0], (typeof checkpoints)[0]];

    expect((await tidemark(['verify', '--checkpoints', checkpointsDir])).code).toBe(0);
    const inspect = await tidemark(['inspect', '--checkpoints', checkpointsDir, newest.id, '--sample', '1', '--json']);
    expect(inspect.code).toBe(0);
    expect(inspect.json().partitions.every((p: { sample: unknown[] }) => p.sample.length === 1)).toBe(true);

    const fromCheckpoints = await tidemark(['export', '--checkpoints', checkpointsDir, '--include-expired']);
    expect(fromCheckpoints.code).toBe(0);
    const lines = fromCheckpoints.jsonLines();
    for (const l of lines) expect(Object.keys(l).slice(0, 5)).toEqual(['topic', 'partition', 'scope', 'key', 'value']);
    const fromState = await tidemark(['export', '--state', stateDir, '--include-expired']);
    expect(fromState.code).toBe(0);
    expect(fromState.jsonLines().length).toBeGreaterThan(0);
    // The demo stopped gracefully (a last checkpoint): the state the
    // checkpoints hold is the state directory's.
    expect(lines.length).toBe(fromState.jsonLines().length);
    // A full newest checkpoint holds every entry; a delta (the demo's second
    // run took several checkpoints) holds what changed since its base, and
    // says so.
    const parts = inspect.json().partitions as Array<{ entries: number; kind?: string; base?: string; depth?: number }>;
    if (parts.every((p) => p.kind === undefined)) expect(lines.length).toBe(inspect.json().checkpoint.entries);
    else
      for (const p of parts.filter((q) => q.kind !== undefined))
        expect(p).toMatchObject({ kind: 'delta', base: expect.any(String), depth: expect.any(Number) });

    // Corrupt the newest checkpoint: verify names it, restore falls back past it.
    flipBit(path.join(checkpointsDir, newest.id, newest.partitions[0]!.file), 9, 4);
    const verify = await tidemark(['verify', '--checkpoints', checkpointsDir]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`${newest.id}  CORRUPT: ${newest.partitions[0]!.file}: segment sha256 mismatch`);
    const target = path.join(tmpDir('tm-cli-demo'), 'state');
    const restore = await tidemark(['restore', '--checkpoints', checkpointsDir, '--state', target, '--json']);
    expect(restore.code).toBe(0);
    const result = restore.json();
    expect(result.skipped).toEqual([
      { id: newest.id, reason: `${newest.partitions[0]!.file}: segment sha256 mismatch (quarantined)` },
    ]);
    // Each partition from the checkpoint the consumer would take, past the
    // corrupt one: the highest offset, the newest among equals (a checkpoint
    // written while some partitions were still recovering holds only the others).
    const best = new Map<string, { topic: string; partition: number; offset: string; id: string }>();
    for (const c of checkpoints.slice(1)) {
      for (const p of c.partitions) {
        const k = `${p.topic}:${p.partition}`;
        const had = best.get(k);
        if (p.offset !== null && (had === undefined || BigInt(p.offset) > BigInt(had.offset)))
          best.set(k, { topic: p.topic, partition: p.partition, offset: p.offset, id: c.id });
      }
    }
    const chosen = [...best.values()].sort((a, b) =>
      a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
    );
    expect(
      result.restored.map((r: { topic: string; partition: number; offset: string; checkpointId: string }) => [
        r.topic,
        r.partition,
        r.offset,
        r.checkpointId,
      ]),
    ).toEqual(chosen.map((b) => [b.topic, b.partition, b.offset, b.id]));
    expect(result.resumeFrom).toEqual(chosen.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
    expect(fs.existsSync(path.join(checkpointsDir, 'quarantine', newest.id, 'manifest'))).toBe(true);

    const prune = await tidemark(['prune', '--checkpoints', checkpointsDir, '--keep', '1', '--json']);
    expect(prune.code).toBe(0);
    expect(prune.json().kept).toContainEqual({ id: previous.id, why: 'newest valid checkpoint' });
    expect((await tidemark(['verify', '--checkpoints', checkpointsDir])).code).toBe(0);
  });
});
