import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A TypeScript program run in a child process, with its stdout read line by line. */
export interface ChildRun {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `re` (and `accept`, if given). */
  waitFor(re: RegExp, accept?: (m: RegExpMatchArray) => boolean): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** stdout lines so far. */
  lines: string[];
}

/** Starts `node --import tsx <file> ...args` from the repository root. */
export function runTs(file: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildRun {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, file), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const lines: string[] = [];
  const waiters: Array<{ match: (line: string) => RegExpMatchArray | null; resolve: (m: RegExpMatchArray) => void }> =
    [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (let i = 0; i < waiters.length; i++) {
      const m = waiters[i]!.match(line);
      if (m) {
        waiters[i]!.resolve(m);
        waiters.splice(i--, 1);
      }
    }
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  onTestFinished(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return {
    proc,
    lines,
    exited,
    stderr: () => err,
    waitFor: (re, accept) =>
      new Promise((resolve, reject) => {
        const match = (line: string): RegExpMatchArray | null => {
          const m = line.match(re);
          return m && (accept === undefined || accept(m)) ? m : null;
        };
        for (const line of lines) {
          const m = match(line);
          if (m) return resolve(m);
        }
        waiters.push({ match, resolve });
        void exited.then((code) =>
          reject(
            new Error(
              `child exited (${code}) before printing ${re}; last stdout:\n${lines.slice(-15).join('\n')}\nstderr:\n${err.slice(-3000)}`,
            ),
          ),
        );
      }),
  };
}

/** Kills with SIGKILL and waits until the process is gone (and reaped). */
export async function killHard(run: ChildRun): Promise<void> {
  run.proc.kill('SIGKILL');
  await run.exited;
}
