import { describe, expect, it } from 'vitest';
import { RecoveryCancelled, RecoveryScheduler } from '../../src/pipeline/recovery-scheduler.js';

const tp = (partition: number) => ({ topic: 't', partition });

/** A task that runs until `finish()`; `started` resolves when it began. */
function held(): {
  task: (signal: AbortSignal) => Promise<string>;
  started: Promise<AbortSignal>;
  finish: (value?: string) => void;
} {
  let finish!: (value?: string) => void;
  let begin!: (signal: AbortSignal) => void;
  const started = new Promise<AbortSignal>((resolve) => (begin = resolve));
  const done = new Promise<string>((resolve) => (finish = (v = 'ok') => resolve(v)));
  return {
    task: async (signal) => {
      begin(signal);
      return done;
    },
    started,
    finish,
  };
}

describe('RecoveryScheduler', () => {
  it('runs at most `limit` recoveries at once; the next starts when one ends', async () => {
    const s = new RecoveryScheduler(2);
    const tasks = [0, 1, 2, 3].map(() => held());
    const results = tasks.map((t, i) => s.run(tp(i), t.task));
    await Promise.all([tasks[0]!.started, tasks[1]!.started]);
    expect(s.active).toBe(2);
    let thirdStarted = false;
    void tasks[2]!.started.then(() => (thirdStarted = true));
    await Promise.resolve();
    expect(thirdStarted).toBe(false);
    tasks[1]!.finish('one');
    await expect(results[1]).resolves.toBe('one');
    await tasks[2]!.started;
    expect(s.active).toBe(2);
    for (const t of tasks) t.finish();
    await s.settled();
    expect(s.active).toBe(0);
  });

  it('runs a partition assigned again only after its previous recovery settled', async () => {
    const s = new RecoveryScheduler(4);
    const first = held();
    const second = held();
    const a = s.run(tp(0), first.task);
    const signal = await first.started;
    s.cancel([tp(0)]);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(RecoveryCancelled);
    const b = s.run(tp(0), second.task);
    let secondStarted = false;
    void second.started.then(() => (secondStarted = true));
    await Promise.resolve();
    expect(secondStarted).toBe(false);
    first.finish('first');
    await a;
    const signal2 = await second.started;
    expect(signal2.aborted).toBe(false);
    second.finish('second');
    await expect(b).resolves.toBe('second');
  });

  it('cancelAll: a queued recovery never starts, a running one sees its signal', async () => {
    const s = new RecoveryScheduler(1);
    const running = held();
    const queued = held();
    const a = s.run(tp(0), running.task);
    const b = s.run(tp(1), queued.task);
    const signal = await running.started;
    s.cancelAll();
    expect(signal.aborted).toBe(true);
    running.finish();
    await a;
    await expect(b).rejects.toBeInstanceOf(RecoveryCancelled);
    await s.settled();
    expect(s.active).toBe(0);
  });
});
