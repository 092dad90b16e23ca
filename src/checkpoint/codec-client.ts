import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './codec-protocol.js';
import type { DecodeParams, EncodeParams, EncodeResult } from './segment-codec.js';

/** The worker rejected a segment: `reason` says why (checksum, tag, zstd, size, records). */
export class SegmentFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A job was cancelled (timeout, shutdown). */
export class JobCancelled extends Error {}

/** One encode or decode job running in the worker. */
export interface CodecJob {
  /**
   * Sends a chunk (its ArrayBuffer is transferred: do not touch it again);
   * resolves with the output it produced. Several may be outstanding.
   */
  push(chunk: Buffer): Promise<Buffer[]>;
  /**
   * Ends the input; resolves with the last output and, for encoding, the
   * totals. `storedSha256`: for a decode job whose caller hashed the stored
   * bytes (DecodeParams.hashedByCaller), their digest (hex).
   */
  end(storedSha256?: string): Promise<{ chunks: Buffer[]; result: EncodeResult | undefined }>;
  /** Abandons the job; pending promises reject with {@link JobCancelled}. */
  cancel(): void;
  /**
   * Gives an output chunk's buffer back to the worker for reuse (its
   * ArrayBuffer is transferred: every view of it, on this thread, becomes
   * empty). Only for chunks nothing refers to any more.
   */
  recycle?(chunk: Buffer): void;
}

interface Pending {
  resolve(value: { chunks: Buffer[]; result: EncodeResult | undefined }): void;
  reject(err: Error): void;
}

interface JobState {
  queue: Pending[];
}

const here = import.meta.url;
const isTypeScript = here.endsWith('.ts');

// From TypeScript sources (vitest, `node --import tsx`) the worker must load
// tsx before its .ts entry; `execArgv: ['--import', 'tsx']` does not apply
// loader hooks to worker threads on Node 20, so a tiny bootstrap does it.
function spawn(): Worker {
  const entry = new URL(isTypeScript ? './codec-worker.ts' : './codec-worker.js', here);
  if (!isTypeScript) return new Worker(entry);
  const tsxApi = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true });
}

/**
 * The main thread's handle on the codec worker: one thread, started on first
 * use, kept referenced only while jobs run (an idle worker never holds the
 * process open), restarted if it dies.
 */
export class CodecWorker {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, JobState>();
  private nextJob = 1;
  private closed = false;

  /** Starts encoding one segment. */
  encode(params: EncodeParams): CodecJob {
    return this.start({ type: 'encode', job: 0, params });
  }

  /** Starts decoding and verifying one segment. */
  decode(params: DecodeParams): CodecJob {
    return this.start({ type: 'decode', job: 0, params });
  }

  /** Stops the worker; running jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new JobCancelled('codec worker closed'));
    if (w !== undefined) await w.terminate();
  }

  private start(open: Extract<ToWorker, { type: 'encode' | 'decode' }>): CodecJob {
    if (this.closed) throw new JobCancelled('codec worker closed');
    const worker = this.ensureWorker();
    const job = this.nextJob++;
    const state: JobState = { queue: [] };
    this.jobs.set(job, state);
    worker.ref();
    worker.postMessage({ ...open, job });
    let finished = false;
    const request = (
      msg: ToWorker,
      transfer: ArrayBuffer[],
    ): Promise<{ chunks: Buffer[]; result: EncodeResult | undefined }> =>
      new Promise((resolve, reject) => {
        if (finished || !this.jobs.has(job)) {
          reject(new JobCancelled('job already ended'));
          return;
        }
        state.queue.push({ resolve, reject });
        worker.postMessage(msg, transfer);
      });
    return {
      push: async (chunk) => (await request({ type: 'data', job, chunk }, [chunk.buffer as ArrayBuffer])).chunks,
      end: (storedSha256) => {
        const p = request(
          storedSha256 === undefined ? { type: 'end', job } : { type: 'end', job, sha256: storedSha256 },
          [],
        );
        finished = true;
        return p;
      },
      recycle: (chunk) => {
        if (this.worker !== worker) return; // restarted: the buffer is collected here
        const buffer = chunk.buffer as ArrayBuffer;
        worker.postMessage({ type: 'recycle', job, buffer } satisfies ToWorker, [buffer]);
      },
      cancel: () => {
        if (!this.jobs.has(job)) return;
        finished = true;
        this.finishJob(job);
        for (const p of state.queue) p.reject(new JobCancelled('job cancelled'));
        this.worker?.postMessage({ type: 'cancel', job } satisfies ToWorker);
      },
    };
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = spawn();
    w.unref();
    w.on('message', (msg: FromWorker) => this.onMessage(msg));
    w.on('error', (err) => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(err instanceof Error ? err : new Error(String(err)));
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(new Error(`codec worker exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }

  private onMessage(msg: FromWorker): void {
    const state = this.jobs.get(msg.job);
    if (state === undefined) return; // cancelled
    const pending = state.queue.shift();
    if (msg.type === 'error') {
      this.finishJob(msg.job);
      const err = msg.segment ? new SegmentFailure(msg.message) : new Error(`codec worker: ${msg.message}`);
      pending?.reject(err);
      for (const p of state.queue) p.reject(err);
      return;
    }
    const chunks = msg.chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    if (msg.type === 'end') this.finishJob(msg.job);
    pending?.resolve({ chunks, result: msg.type === 'end' ? msg.result : undefined });
  }

  private finishJob(job: number): void {
    this.jobs.delete(job);
    if (this.jobs.size === 0) this.worker?.unref();
  }

  private failAll(err: Error): void {
    const states = [...this.jobs.values()];
    this.jobs.clear();
    for (const s of states) for (const p of s.queue) p.reject(err);
  }
}
