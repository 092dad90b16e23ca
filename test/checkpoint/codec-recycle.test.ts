// The real codec worker decoding into buffers the main thread gave back
// (CodecPipeline's `recycle`, used by verify): output stays byte-exact across
// segments, and a damaged segment is still refused.
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CodecWorker, SegmentFailure } from '../../src/checkpoint/codec-client.js';
import { CodecPipeline } from '../../src/checkpoint/codec-pipeline.js';
import { CHUNK_BYTES, readRecords, RecordPacker } from '../../src/checkpoint/records.js';
import { type DecodeParams, SegmentEncoder } from '../../src/checkpoint/segment-codec.js';

interface Segment {
  stored: Buffer;
  params: DecodeParams;
  digest: string;
}

// About 3 MiB of ~60-byte records whose values depend on `salt`.
function segment(salt: number): Segment {
  const packer = new RecordPacker();
  const h = createHash('sha256');
  for (let i = 0; i < 50_000; i++) {
    const key = Buffer.from(`user-${String(i).padStart(8, '0')}`);
    const value = Buffer.alloc(40 + ((i * salt) % 13), (i + salt) % 251);
    packer.add(key, value);
    h.update(key).update(value);
  }
  const enc = new SegmentEncoder({ level: 1 });
  const parts = packer.finish().map((c) => enc.push(c));
  const { tail, result } = enc.finish();
  parts.push(tail);
  return {
    stored: Buffer.concat(parts),
    params: { ...result, entries: packer.entries },
    digest: h.digest('hex'),
  };
}

const worker = new CodecWorker();
afterAll(() => worker.close());

// Decodes through the worker with recycling; returns the records' digest and
// how many chunks the sink saw emptied (transferred back) afterwards.
async function decode(s: Segment): Promise<{ digest: string; chunks: number; detached: number }> {
  const h = createHash('sha256');
  const seen: Buffer[] = [];
  const p = new CodecPipeline(
    worker.decode(s.params),
    (c) => {
      for (const r of readRecords([c])) h.update(r.key).update(r.value);
      seen.push(c);
    },
    { recycle: true },
  );
  for (let o = 0; o < s.stored.length; o += 256 * 1024) {
    const piece = Buffer.from(new ArrayBuffer(Math.min(256 * 1024, s.stored.length - o)));
    s.stored.copy(piece, 0, o);
    await p.push(piece);
  }
  await p.end();
  return { digest: h.digest('hex'), chunks: seen.length, detached: seen.filter((c) => c.length === 0).length };
}

describe('codec worker: decoding into recycled buffers', () => {
  const a = segment(3);
  const b = segment(7);

  it('decodes segments byte-exact, alternating, while its output buffers go round', async () => {
    expect(a.params.rawBytes).toBeGreaterThan(2 * CHUNK_BYTES);
    for (const s of [a, b, a, b]) {
      const r = await decode(s);
      expect(r.digest).toBe(s.digest);
      expect(r.chunks).toBeGreaterThan(2);
      expect(r.detached).toBe(r.chunks); // every chunk was given back
    }
  });

  it('refuses a damaged segment after buffers were recycled', async () => {
    await decode(a);
    const bad = Buffer.from(b.stored);
    bad[bad.length >> 1]! ^= 0x10;
    await expect(decode({ ...b, stored: bad })).rejects.toThrow(SegmentFailure);
    await expect(decode({ ...b, stored: bad })).rejects.toThrow(/sha256 mismatch/);
    expect((await decode(b)).digest).toBe(b.digest);
  });
});
