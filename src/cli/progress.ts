import cliProgress from 'cli-progress';
import type { CliIo } from './io.js';
import { formatBytes } from './io.js';

/** A progress bar on stderr, or nothing when stderr is not a terminal. */
export interface Progress {
  /** Work done since the last call. */
  advance(n: number): void;
  /** Changes the amount of work expected (e.g. a restore falling back to another checkpoint). */
  grow(total: number): void;
  /** A message on stderr that does not tear the bar. */
  note(text: string): void;
  /** Removes the bar. Idempotent. */
  stop(): void;
}

/**
 * Starts a bar labelled `label` over `total` units (bytes or entries) when
 * stderr is a TTY; otherwise messages go straight to stderr and nothing
 * else is drawn, so logs and pipes stay clean.
 */
export function startProgress(io: CliIo, label: string, total: number, unit: 'bytes' | 'entries'): Progress {
  if (io.stderr.isTTY !== true) {
    return {
      advance: () => undefined,
      grow: () => undefined,
      note: (t) => void io.stderr.write(`${t}\n`),
      stop: () => undefined,
    };
  }
  const show = (v: number): string => (unit === 'bytes' ? formatBytes(v) : String(v));
  const multi = new cliProgress.MultiBar(
    {
      stream: io.stderr,
      format: `${label} [{bar}] {percentage}% | {value} / {total}${unit === 'entries' ? ' entries' : ''} | ETA {eta_formatted}`,
      formatValue: (v, _options, type) => (type === 'value' || type === 'total' ? show(v) : String(v)),
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let expected = Math.max(total, 1);
  let done = 0;
  const bar = multi.create(expected, 0);
  let stopped = false;
  return {
    advance: (n) => {
      if (stopped) return;
      done += n;
      if (done > expected) {
        expected = done;
        bar.setTotal(expected);
      }
      bar.increment(n);
    },
    grow: (t) => {
      if (stopped || t <= expected) return;
      expected = t;
      bar.setTotal(expected);
    },
    note: (t) => (stopped ? void io.stderr.write(`${t}\n`) : multi.log(`${t}\n`)),
    stop: () => {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}
