/**
 * Per-partition seek and pause on top of a client that fetches every
 * assigned partition from one position map and has neither
 * (@platformatic/kafka's MessagesStream and its `offsetsToFetch`).
 *
 * A partition is delivered only once the pipeline has recovered it
 * (`ready`); records below its position are dropped; after a seek, a fetch
 * that was already in flight can return records from the old position:
 * those are dropped and the position is set again, until a record at the
 * sought offset arrives. Any record past the position is refetched from the
 * position; the same record past it three times in a row is taken as a
 * real hole in the log (compaction, transaction markers).
 *
 * Pure bookkeeping: the only effect is on the position map handed in.
 */
export class RecordFence {
  private readonly parts = new Map<string, FencedPartition>();
  private epochs = 0;

  /** A newly assigned partition: nothing is delivered until {@link ready}. */
  add(k: string): void {
    this.parts.set(k, { ready: false, held: false, pos: undefined, pending: undefined, epoch: ++this.epochs });
  }

  /** The pipeline has recovered the partition (and seeked it, or left it where the client is). */
  ready(k: string): void {
    const p = this.parts.get(k);
    if (p !== undefined) p.ready = true;
  }

  /** A revoked partition: its records are dropped and batches in flight become inactive. */
  remove(k: string): void {
    this.parts.delete(k);
  }

  /** Drops the partition's records until the next {@link seek} (a position being looked up). */
  hold(k: string): void {
    const p = this.parts.get(k);
    if (p === undefined) return;
    p.held = true;
    p.epoch = ++this.epochs;
  }

  isHeld(k: string): boolean {
    return this.parts.get(k)?.held === true;
  }

  /** Changes when the partition is repositioned or revoked: a batch of an older epoch is stale. */
  epoch(k: string): number {
    return this.parts.get(k)?.epoch ?? -1;
  }

  /** The next offset to deliver, if known. */
  position(k: string): bigint | undefined {
    return this.parts.get(k)?.pos;
  }

  /** Positions a partition at `offset` and points the client's fetch there. */
  seek(k: string, offset: bigint, fetchAt: Map<string, bigint>): void {
    const p = this.parts.get(k);
    if (p === undefined) return;
    p.pos = offset;
    p.held = false;
    p.pending = { strikes: 0, first: undefined };
    p.epoch = ++this.epochs;
    fetchAt.set(k, offset);
  }

  /** Puts every positioned partition's fetch back where it is (the client reset them). */
  reapply(fetchAt: Map<string, bigint>): void {
    for (const [k, p] of this.parts) if (p.pos !== undefined) fetchAt.set(k, p.pos);
  }

  /**
   * Which of a partition's fetched records (their offsets, ascending) to
   * deliver: the indexes returned. Moves the position past them.
   */
  admit(k: string, offsets: readonly bigint[], fetchAt: Map<string, bigint>): number[] {
    const p = this.parts.get(k);
    if (p === undefined || !p.ready || p.held) return [];
    const out: number[] = [];
    for (let i = 0; i < offsets.length; i++) {
      const o = offsets[i]!;
      if (p.pos !== undefined && o < p.pos) continue;
      if (p.pos !== undefined && o > p.pos) {
        // A fetch from before a seek, records the client lost, or a hole in
        // the log: fetch again from the position; only the same record
        // three times in a row is a hole.
        p.pending ??= { strikes: 0, first: undefined };
        p.pending.strikes = p.pending.first === o ? p.pending.strikes + 1 : 1;
        p.pending.first = o;
        if (p.pending.strikes < 3) {
          fetchAt.set(k, p.pos);
          return out;
        }
      }
      p.pending = undefined;
      out.push(i);
      p.pos = o + 1n;
    }
    if (out.length === 0 && p.pos !== undefined && (fetchAt.get(k) ?? -1n) < p.pos) fetchAt.set(k, p.pos);
    return out;
  }
}

interface FencedPartition {
  ready: boolean;
  held: boolean;
  pos: bigint | undefined;
  pending: { strikes: number; first: bigint | undefined } | undefined;
  epoch: number;
}
