// The bounded pipeline feeding the codec worker, against a scripted job (no
// thread, no I/O); the real worker is exercised by every repository test.
import { describe, expect, it } from 'vitest';
import type { CodecJob } from '../../src/checkpoint/codec-client.js';
import { CodecPipeline } from '../../src/checkpoint/codec-pipeline.js';

// A job that answers each push when told to, echoing its input upper-cased.
class ScriptedJob implements CodecJob {
  readonly waiting: Array<{ chunk: Buffer; resolve: (c: Buffer[]) => void; reject: (e: Error) => void }> = [];
  cancelled = false;
  ended = false;
  push(chunk: Buffer): Promise<Buffer[]> {
    return new Promise((resolve, reject) => this.waiting.push({ chunk, resolve, reject }));
  }
  answerAll(): void {
    for (const w of this.waiting.splice(0)) w.resolve([Buffer.from(w.chunk.toString().toUpperCase())]);
  }
  async end() {
    this.ended = true;
    return { chunks: [Buffer.from('!'), Buffer.alloc(0)], result: undefined };
  }
  cancel(): void {
    this.cancelled = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error('cancelled'));
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('CodecPipeline', () => {
  it('keeps at most maxInFlight chunks in the worker and delivers output in order, empty chunks dropped', async () => {
    const job = new ScriptedJob();
    const out: string[] = [];
    const p = new CodecPipeline(job, (c) => void out.push(c.toString()), { maxInFlight: 2 });
    await p.push(Buffer.from('a'));
    let third = false;
    const second = p.push(Buffer.from('b')).then(() => (third = true));
    await tick();
    expect(job.waiting.length).toBe(2);
    expect(third).toBe(false); // blocked: two in flight
    job.answerAll();
    await second;
    await p.push(Buffer.from('c'));
    job.answerAll();
    await p.end();
    expect(out).toEqual(['A', 'B', 'C', '!']);
  });

  it('stops feeding while the sink lags by more than maxPendingSink chunks', async () => {
    const job = new ScriptedJob();
    const gates: Array<() => void> = [];
    const sunk: string[] = [];
    const p = new CodecPipeline(
      job,
      (c) =>
        new Promise<void>((r) =>
          gates.push(() => {
            sunk.push(c.toString());
            r();
          }),
        ),
      { maxInFlight: 1, maxPendingSink: 1 },
    );
    // maxInFlight 1: each push waits for its own answer.
    const a = p.push(Buffer.from('a'));
    job.answerAll();
    await a;
    const b = p.push(Buffer.from('b'));
    let bDone = false;
    void b.then(() => (bDone = true));
    job.answerAll();
    await tick();
    await tick();
    expect(bDone).toBe(false); // two outputs wait for the sink: more than 1
    while (gates.length > 0) {
      gates.shift()!();
      await tick();
    }
    await b;
    const end = p.end();
    while (!job.ended) await tick();
    while (gates.length > 0 || sunk.length < 3) {
      gates.shift()?.();
      await tick();
    }
    await end;
    expect(sunk).toEqual(['A', 'B', '!']);
  });

  it('a sink failure is thrown by the next push or end, and the sink is not called again', async () => {
    const job = new ScriptedJob();
    let calls = 0;
    const p = new CodecPipeline(
      job,
      () => {
        calls++;
        throw new Error('disk full');
      },
      { maxInFlight: 1 },
    );
    const a = p.push(Buffer.from('a'));
    job.answerAll();
    await a;
    const b = p.push(Buffer.from('b'));
    job.answerAll();
    await b.catch(() => undefined);
    await expect(p.end()).rejects.toThrow('disk full');
    expect(calls).toBe(1);
  });

  it('a worker failure rejects push; cancel settles and cancels the job', async () => {
    const job = new ScriptedJob();
    const p = new CodecPipeline(job, () => undefined, { maxInFlight: 1 });
    const a = p.push(Buffer.from('a'));
    job.waiting.shift()!.reject(new Error('checksum mismatch'));
    await expect(a).rejects.toThrow('checksum mismatch');
    await p.cancel();
    expect(job.cancelled).toBe(true);
  });
});

describe('CodecPipeline: recycling output chunks', () => {
  class RecyclingJob extends ScriptedJob {
    readonly recycled: string[] = [];
    recycle(chunk: Buffer): void {
      this.recycled.push(chunk.toString());
    }
  }

  it('with recycle, gives each chunk back once its sink has settled; never one whose sink failed', async () => {
    const job = new RecyclingJob();
    const gates: Array<() => void> = [];
    const p = new CodecPipeline(
      job,
      (c) =>
        new Promise<void>((resolve, reject) =>
          gates.push(() => (c.toString() === 'B' ? reject(new Error('sink failed')) : resolve())),
        ),
      { recycle: true, maxInFlight: 1 },
    );
    const first = p.push(Buffer.from('a'));
    job.answerAll();
    await first;
    await tick();
    expect(job.recycled).toEqual([]); // the sink has not settled yet
    gates.shift()!();
    await tick();
    expect(job.recycled).toEqual(['A']);
    const second = p.push(Buffer.from('b'));
    job.answerAll();
    await second;
    const ended = p.end(); // delivers B (and '!', which the failed sink never sees)
    for (let i = 0; i < 10 && gates.length === 0; i++) await tick();
    gates.shift()!();
    await expect(ended).rejects.toThrow('sink failed');
    expect(job.recycled).toEqual(['A']);
  });

  it('without recycle, never gives a chunk back', async () => {
    const job = new RecyclingJob();
    const p = new CodecPipeline(job, () => undefined);
    const pushed = p.push(Buffer.from('a'));
    job.answerAll();
    await pushed;
    await p.end();
    expect(job.recycled).toEqual([]);
  });
});
