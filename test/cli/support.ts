// Shared by the CLI tests: the real `tidemark` command in a child process
// (node --import tsx src/cli/main.ts), fixtures built once per file with the
// real library, and copies of them that a test may damage.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { buildCliFixture, type CliFixture } from '../fixtures/cli-data.js';

/** What one run of the CLI did. */
export interface CliRun {
  code: number | string;
  stdout: string;
  stderr: string;
  /** stdout parsed as one JSON document. */
  json<T = any>(): T;
  /** stdout parsed as JSON lines. */
  jsonLines<T = any>(): T[];
}

/** Runs `tidemark <args>` to completion. The environment never carries a checkpoint key unless given. */
export async function tidemark(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const child = runTs('src/cli/main.ts', args, { TIDEMARK_CHECKPOINT_KEY: '', TIDEMARK_DEBUG: '', ...env });
  child.proc.stdin!.end();
  const code = await child.exited;
  const stdout = child.lines.map((l) => `${l}\n`).join('');
  return {
    code,
    stdout,
    stderr: child.stderr(),
    json: () => JSON.parse(stdout),
    jsonLines: () => child.lines.filter((l) => l.length > 0).map((l) => JSON.parse(l)),
  };
}

/**
 * Builds the fixture once for the whole file (before its tests, removed
 * after them); `copy()` gives a test its own copy to change.
 */
export function sharedFixture(key?: Buffer): { get(): CliFixture; copy(): CliFixture } {
  let fixture: CliFixture | undefined;
  let root: string | undefined;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-cli-fixture-'));
    fixture = await buildCliFixture(root, key);
  });
  afterAll(() => {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    get: () => fixture!,
    copy: () => {
      const dest = tmpDir('tm-cli');
      fs.cpSync(fixture!.root, dest, { recursive: true });
      return {
        ...fixture!,
        root: dest,
        stateDir: path.join(dest, 'state'),
        checkpointsDir: path.join(dest, 'checkpoints'),
      };
    },
  };
}

/** Flips one bit of a file in place. */
export function flipBit(file: string, byte: number, bit = 0): void {
  const b = fs.readFileSync(file);
  b[byte]! ^= 1 << bit;
  fs.writeFileSync(file, b);
}

/** A line is a one-line tidemark error: no stack trace. */
export function expectOneLineError(stderr: string): string[] {
  const lines = stderr.trim().split('\n');
  for (const l of lines) if (/^\s+at /.test(l)) throw new Error(`stack trace on stderr:\n${stderr}`);
  return lines;
}
