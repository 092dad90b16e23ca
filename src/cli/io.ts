import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Where a command writes: results to stdout, messages and progress to stderr. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

/** The reader of stdout went away (`tidemark export | head`): stop quietly. */
export class OutputClosed extends Error {
  constructor() {
    super('stdout was closed');
    this.name = 'OutputClosed';
  }
}

/** Output of one command run. */
export class Output {
  private closed = false;

  constructor(readonly io: CliIo) {
    io.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (isClosedPipe(err)) this.closed = true;
      else throw err;
    });
  }

  /** One line of result on stdout, waiting for the reader when it lags. */
  async line(text: string): Promise<void> {
    if (this.closed) throw new OutputClosed();
    let flowing: boolean;
    try {
      flowing = this.io.stdout.write(`${text}\n`);
    } catch (err) {
      // A pipe is written synchronously on Linux: EPIPE arrives here.
      if (!isClosedPipe(err)) throw err;
      this.closed = true;
      throw new OutputClosed();
    }
    if (!flowing) {
      try {
        // once() rejects when the stream emits 'error' meanwhile (EPIPE).
        await Promise.race([once(this.io.stdout, 'drain'), once(this.io.stdout, 'close')]);
      } catch (err) {
        if (!isClosedPipe(err)) throw err;
        this.closed = true;
      }
      if (this.closed) throw new OutputClosed();
    }
  }

  /** Lines of result on stdout. */
  async lines(texts: readonly string[]): Promise<void> {
    for (const t of texts) await this.line(t);
  }

  /** A JSON document on stdout (pretty, one trailing newline). */
  async json(value: unknown): Promise<void> {
    await this.line(JSON.stringify(value, null, 2));
  }

  /** A message for the person at the terminal, on stderr. */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }
}

function isClosedPipe(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/** `1536` -> `1.5 KiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** Rows as aligned columns (two spaces apart); the last column is not padded. */
export function table(rows: ReadonlyArray<readonly string[]>, indent = ''): string[] {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
  );
}

/** `n thing` / `n things`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
