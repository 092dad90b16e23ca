// A chaos consumer process (test/chaos/consumer.ts) as the orchestrator sees
// it: its stdout lines in memory, everything it prints in a log file, and
// its exit. No vitest here: the `npm run chaos` runner uses it too.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

export class Member {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<Exit>;
  readonly logFile: string;
  exit: Exit | undefined;
  /** Set when the orchestrator killed or stopped it on purpose. */
  expectedExit = false;
  private readonly waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(
    readonly slot: number,
    readonly incarnation: number,
    logDir: string,
    env: Record<string, string>,
  ) {
    this.logFile = path.join(logDir, `m${slot}.${incarnation}.log`);
    const log = fs.createWriteStream(this.logFile);
    this.proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/chaos/consumer.ts')], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const t0 = Date.now();
    const stamp = () => `${((Date.now() - t0) / 1000).toFixed(3).padStart(8)} `;
    createInterface({ input: this.proc.stderr! }).on('line', (line) => log.write(`${stamp()}ERR ${line}\n`));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      log.write(`${stamp()}${line}\n`);
      this.lines.push(line);
      for (let i = 0; i < this.waiters.length; i++) {
        const m = line.match(this.waiters[i]!.re);
        if (m) {
          this.waiters[i]!.resolve(m);
          this.waiters.splice(i--, 1);
        }
      }
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        log.write(`${stamp()}EXIT code=${code} signal=${signal}\n`);
        resolve(this.exit);
      });
    });
    this.exited.then(() => new Promise((r) => setTimeout(r, 50))).finally(() => log.end());
  }

  get name(): string {
    return `m${this.slot}.${this.incarnation}`;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** The next stdout line (from now on) matching `re`, or undefined after `timeoutMs` or at exit. */
  next(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (m: RegExpMatchArray | undefined) => {
        clearTimeout(timer);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(m);
      };
      const waiter = { re, resolve: (m: RegExpMatchArray) => done(m) };
      this.waiters.push(waiter);
      void this.exited.then(() => done(undefined));
    });
  }

  /** The first line so far, or the next one, matching `re`. */
  async first(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray | undefined> {
    for (const line of this.lines) {
      const m = line.match(re);
      if (m) return m;
    }
    return this.next(re, timeoutMs);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.proc.kill(signal);
  }

  /**
   * Next offset per partition it owns now, as it last reported them
   * (RECOVERED, COMMITTED), following its REBALANCED lines.
   */
  positions(): Map<number, string | undefined> {
    const owned = new Map<number, string | undefined>();
    for (const line of this.lines) {
      let m: RegExpMatchArray | null;
      if ((m = line.match(/^REBALANCED \+(\S*) -(\S*)$/))) {
        for (const p of m[2]!.split(',').filter(Boolean)) owned.delete(Number(p));
        for (const p of m[1]!.split(',').filter(Boolean)) owned.set(Number(p), undefined);
      } else if ((m = line.match(/^RECOVERED (\d+) \S+ (\S+) /))) {
        if (owned.has(Number(m[1])) && m[2] !== '-') owned.set(Number(m[1]), m[2]);
      } else if (line.startsWith('COMMITTED ')) {
        for (const part of line.slice(10).split(' ')) {
          const [p, o] = part.split('=');
          if (owned.has(Number(p)) && o !== undefined && o !== '-') owned.set(Number(p), o);
        }
      }
    }
    return owned;
  }

  /** The last `n` lines of its log file (stdout and stderr). */
  tail(n = 25): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
