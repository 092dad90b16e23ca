// One bounded pipeline feeding chunks through a codec worker job, used by
// writing (records in, stored bytes out) and reading (stored bytes in,
// verified records out) alike.
import type { CodecJob } from './codec-client.js';
import type { EncodeResult } from './segment-codec.js';

/** Receives the job's output chunks, in order; may be asynchronous (a write). */
export type ChunkSink = (chunk: Buffer) => void | Promise<void>;

/** Bounds of a {@link CodecPipeline}. */
export interface CodecPipelineLimits {
  /** Chunks handed to the worker and not yet answered; default 4. */
  maxInFlight?: number;
  /** Output chunks handed to the sink and not yet settled; default 16. */
  maxPendingSink?: number;
  /**
   * The sink keeps no reference to a chunk once its promise has settled:
   * each chunk's buffer then goes back to the worker (CodecJob.recycle) to
   * be decoded into again. Default false.
   */
  recycle?: boolean;
}

/** Chunks (about 1 MiB each) handed to the worker and not yet answered. */
export const DEFAULT_MAX_IN_FLIGHT = 4;
/** Output chunks waiting for the sink before the pipeline stops feeding the worker. */
export const DEFAULT_MAX_PENDING_SINK = 16;

/**
 * Feeds a codec job and drains its output into a sink, holding at most
 * `maxInFlight` inputs in the worker and `maxPendingSink` outputs waiting
 * for the sink: memory stays bounded by those counts times the chunk size,
 * whatever the segment's size. The sink runs on its own chain, so the worker
 * is fed while the sink writes. The first failure (the worker's or the
 * sink's) is thrown by the next {@link push} or by {@link end}.
 */
export class CodecPipeline {
  private readonly acks: Array<Promise<Buffer[]>> = [];
  private sinkChain: Promise<void> = Promise.resolve();
  private pendingSink = 0;
  private sinkError: unknown;
  private readonly maxInFlight: number;
  private readonly maxPendingSink: number;
  private readonly recycle: boolean;

  constructor(
    private readonly job: CodecJob,
    private readonly sink: ChunkSink,
    limits: CodecPipelineLimits = {},
  ) {
    this.maxInFlight = limits.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxPendingSink = limits.maxPendingSink ?? DEFAULT_MAX_PENDING_SINK;
    this.recycle = limits.recycle === true;
  }

  /** Sends one chunk (its ArrayBuffer is transferred); waits while the bounds are reached. */
  async push(chunk: Buffer): Promise<void> {
    const ack = this.job.push(chunk);
    ack.catch(() => undefined); // awaited in order by drain(); never unhandled
    this.acks.push(ack);
    await this.drain(this.maxInFlight - 1);
  }

  /**
   * Ends the input, drains every output into the sink; resolves with the
   * job's totals (encoding). `storedSha256`: see {@link CodecJob.end}.
   */
  async end(storedSha256?: string): Promise<EncodeResult | undefined> {
    await this.drain(0);
    const { chunks, result } = await this.job.end(storedSha256);
    for (const c of chunks) this.toSink(c);
    await this.sinkChain;
    if (this.sinkError !== undefined) throw this.sinkError;
    return result;
  }

  /** Abandons the job; resolves once the sink has settled (it is never called again). */
  async cancel(): Promise<void> {
    this.job.cancel();
    this.sinkError ??= new Error('cancelled');
    await this.sinkChain; // never rejects
  }

  private async drain(keep: number): Promise<void> {
    while (this.acks.length > keep) {
      for (const c of await this.acks.shift()!) this.toSink(c);
      if (this.pendingSink > this.maxPendingSink) await this.sinkChain;
      if (this.sinkError !== undefined) throw this.sinkError;
    }
  }

  private toSink(c: Buffer): void {
    if (c.length === 0) return;
    this.pendingSink++;
    this.sinkChain = this.sinkChain
      .then(async () => {
        if (this.sinkError !== undefined) return;
        await this.sink(c);
        if (this.recycle) this.job.recycle?.(c);
      })
      .catch((err: unknown) => void (this.sinkError ??= err))
      .finally(() => void this.pendingSink--);
  }
}
