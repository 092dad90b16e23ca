import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { segmentAad } from '../../src/checkpoint/encryption.js';
import {
  CHUNK_BYTES,
  readRecords,
  RecordPacker,
  RecordScanner,
  RecordStreamError,
} from '../../src/checkpoint/records.js';
import { SegmentDecoder, SegmentEncoder, SegmentError, type DecodeParams } from '../../src/checkpoint/segment-codec.js';
import { prng } from '../helpers/prng.js';

interface Encoded {
  stored: Buffer;
  params: DecodeParams;
}

function entries(n: number, valueBytes = (i: number) => 1 + (i % 50)): Array<{ key: Buffer; value: Buffer }> {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      key: Buffer.from(`\x00\x01key-${String(i).padStart(7, '0')}`),
      value: Buffer.alloc(valueBytes(i), i % 251),
    });
  }
  return out;
}

function encodeRaw(rawChunks: Buffer[], entryCount: number, key?: Buffer, aad?: Buffer, level = 3): Encoded {
  const enc = new SegmentEncoder({ level, key, aad });
  const parts = rawChunks.map((c) => enc.push(c));
  const { tail, result } = enc.finish();
  parts.push(tail);
  const stored = Buffer.concat(parts);
  expect(stored.length).toBe(result.storedBytes);
  expect(createHash('sha256').update(stored).digest('hex')).toBe(result.sha256);
  return {
    stored,
    params: {
      storedBytes: result.storedBytes,
      rawBytes: result.rawBytes,
      entries: entryCount,
      sha256: result.sha256,
      key,
      aad,
    },
  };
}

function encode(list: Array<{ key: Buffer; value: Buffer }>, key?: Buffer, aad?: Buffer, chunkBytes?: number): Encoded {
  const packer = new RecordPacker(chunkBytes);
  for (const e of list) packer.add(e.key, e.value);
  return encodeRaw(packer.finish(), packer.entries, key, aad);
}

/** Decodes in pieces of `step` bytes; returns the entries or throws the SegmentError. */
function decode(stored: Buffer, params: DecodeParams, step = 1 << 20): Array<{ key: Buffer; value: Buffer }> {
  const dec = new SegmentDecoder(params);
  const chunks: Buffer[] = [];
  for (let i = 0; i < stored.length; i += step) chunks.push(...dec.push(stored.subarray(i, i + step)));
  chunks.push(...dec.finish());
  return [...readRecords(chunks)].map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(e.value) }));
}

// vitest's deep equality walks Buffers byte by byte: compare digests instead.
function digest(list: Array<{ key: Buffer; value: Buffer }>): string[] {
  return list.map((e) => `${e.key.toString('hex')}=${createHash('sha256').update(e.value).digest('hex')}`);
}

function decodeError(stored: Buffer, params: DecodeParams, step?: number): string {
  try {
    decode(stored, params, step);
  } catch (err) {
    expect(err).toBeInstanceOf(SegmentError);
    return (err as Error).message;
  }
  throw new Error('decoded without an error');
}

const key = randomBytes(32);
const aad = segmentAad('20261122T193000123Z-0123456789abcdef', { topic: 'orders', partition: 3 }, '42');

describe('segment codec: round trips', () => {
  // The reading thread hashes the stored bytes while the worker decodes
  // (DecodeParams.hashedByCaller): the caller's digest decides, with the
  // same precedence of reasons as the decoder's own hash.
  it.each([
    ['plain', undefined],
    ['encrypted', key],
  ])('%s: stored bytes hashed by the caller', (_, k) => {
    const list = entries(20_000);
    const { stored, params } = encode(list, k, k && aad);
    const byCaller = (bytes: Buffer, p: DecodeParams, sha = createHash('sha256').update(bytes).digest('hex')) => {
      const dec = new SegmentDecoder({ ...p, hashedByCaller: true });
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 4096) chunks.push(...dec.push(bytes.subarray(i, i + 4096)));
      chunks.push(...dec.finish(sha));
      return [...readRecords(chunks)].map((e) => ({ key: Buffer.from(e.key), value: Buffer.from(e.value) }));
    };
    const reason = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(SegmentError);
        return (err as Error).message;
      }
      throw new Error('decoded without an error');
    };
    expect(digest(byCaller(stored, params))).toEqual(digest(list));
    const flipped = Buffer.from(stored);
    flipped[stored.length >> 1]! ^= 0x04;
    expect(reason(() => byCaller(flipped, params))).toBe('segment sha256 mismatch');
    expect(reason(() => byCaller(stored, params, '00'.repeat(32)))).toBe('segment sha256 mismatch');
    const noDigest = new SegmentDecoder({ ...params, hashedByCaller: true });
    noDigest.push(stored);
    expect(reason(() => noDigest.finish())).toBe('segment sha256 mismatch');
    expect(reason(() => byCaller(stored.subarray(0, stored.length - 1), params))).toMatch(/truncated or extended/);
    expect(decodeError(flipped, params)).toBe('segment sha256 mismatch'); // the decoder's own hash agrees
  });

  it.each([
    ['plain', undefined],
    ['encrypted', key],
  ])('%s: entries come back byte for byte, whatever the input piece size', (_, k) => {
    const list = entries(5000);
    const { stored, params } = encode(list, k, k && aad, 64 * 1024);
    for (const step of [1, 7, 4096, 1 << 20]) {
      if (step === 1 && stored.length > 200_000) continue;
      expect(digest(decode(stored, { ...params }, step))).toEqual(digest(list));
    }
  });

  it('records larger than a chunk, and an empty segment', () => {
    const list = entries(5, (i) => (i === 2 ? 3 << 20 : 10)); // one 3 MiB value
    const { stored, params } = encode(list);
    expect(digest(decode(stored, params, 100_000))).toEqual(digest(list));
    const empty = encode([]);
    expect(empty.params.rawBytes).toBe(0);
    expect(decode(empty.stored, empty.params)).toEqual([]);
    const emptyEnc = encode([], key, aad);
    expect(decode(emptyEnc.stored, emptyEnc.params)).toEqual([]);
  });

  it('the stored bytes are zstd (plain) or nonce + ciphertext + tag (encrypted)', () => {
    const plain = encode(entries(100));
    expect(plain.stored.readUInt32LE(0)).toBe(0xfd2fb528); // zstd frame magic
    const enc = encode(entries(100), key, aad);
    expect(enc.stored.readUInt32LE(12)).not.toBe(0xfd2fb528);
    expect(enc.stored.length).toBe(plain.stored.length + 12 + 16);
  });
});

describe('segment codec: every damaged input is refused', () => {
  const small = entries(40);
  it.each([
    ['plain', undefined],
    ['encrypted', key],
  ])('%s: every single flipped bit is detected', (_, k) => {
    const { stored, params } = encode(small, k, k && aad);
    for (let byte = 0; byte < stored.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(stored);
        bad[byte]! ^= 1 << bit;
        expect(decodeError(bad, params), `byte ${byte} bit ${bit}`).toMatch(/sha256 mismatch/);
      }
    }
  });

  it('every truncation and an extension are detected', () => {
    const { stored, params } = encode(small, key, aad);
    for (let len = 0; len < stored.length; len++) {
      expect(decodeError(stored.subarray(0, len), params)).toMatch(/truncated or extended/);
    }
    expect(decodeError(Buffer.concat([stored, Buffer.of(0)]), params)).toMatch(/larger than|truncated or extended/);
  });

  it('a wrong key or a segment moved to another partition fails authentication', () => {
    const { stored, params } = encode(small, key, aad);
    expect(decodeError(stored, { ...params, key: randomBytes(32) })).toMatch(/authentication tag/);
    const otherAad = segmentAad('20261122T193000123Z-0123456789abcdef', { topic: 'orders', partition: 4 }, '42');
    expect(decodeError(stored, { ...params, aad: otherAad })).toMatch(/authentication tag/);
  });

  it('manifest figures that disagree with the segment are refused', () => {
    const { stored, params } = encode(small);
    expect(decodeError(stored, { ...params, entries: params.entries + 1 })).toMatch(
      /holds 40 records, the manifest records 41/,
    );
    expect(decodeError(stored, { ...params, rawBytes: params.rawBytes + 1 })).toMatch(/decompresses to \d+ bytes/);
    expect(decodeError(stored, { ...params, rawBytes: params.rawBytes - 1 })).toMatch(/inflates past/);
  });

  it('a consistent but malformed record stream is refused (keys out of order, duplicates, empty keys, cut records, trailing frames)', () => {
    const rec = (k: string, v: string) => {
      const kb = Buffer.from(k);
      const vb = Buffer.from(v);
      const h = Buffer.alloc(6);
      h.writeUInt16LE(kb.length, 0);
      h.writeUInt32LE(vb.length, 2);
      return Buffer.concat([h, kb, vb]);
    };
    const cases: Array<[string, Buffer, number, RegExp]> = [
      ['out of order', Buffer.concat([rec('b', '1'), rec('a', '2')]), 2, /out of key order/],
      ['duplicate', Buffer.concat([rec('a', '1'), rec('a', '2')]), 2, /out of key order/],
      ['empty key', Buffer.concat([rec('', '1')]), 1, /empty key/],
      ['cut record', Buffer.concat([rec('a', '1'), rec('b', '22').subarray(0, 8)]), 2, /ends inside a record/],
      [
        'huge length',
        Buffer.concat([rec('a', '1'), Buffer.from([1, 0, 0xff, 0xff, 0xff, 0x7f, 0x62])]),
        2,
        /ends inside a record|longer than the rest/,
      ],
    ];
    for (const [name, raw, n, re] of cases) {
      const { stored, params } = encodeRaw([raw], n);
      expect(decodeError(stored, params), name).toMatch(re);
    }
    // Out of order across a chunk boundary of the decoder's output.
    const big = Buffer.alloc(2 << 20, 1);
    const raw = Buffer.concat([rec('b', big.toString('latin1')), rec('a', 'x')]);
    const { stored, params } = encodeRaw([raw], 2);
    expect(decodeError(stored, params)).toMatch(/out of key order/);
    // Two zstd frames where one is expected.
    const one = encode(small);
    const twice = Buffer.concat([one.stored, one.stored]);
    expect(
      decodeError(twice, {
        ...one.params,
        storedBytes: twice.length,
        sha256: createHash('sha256').update(twice).digest('hex'),
      }),
    ).toMatch(/after the end of the zstd frame/);
  });

  it('the record scanner checks lengths and order across calls', () => {
    const s = new RecordScanner();
    const packer = new RecordPacker();
    packer.add(Buffer.from('a'), Buffer.from('1'));
    packer.add(Buffer.from('b'), Buffer.from('2'));
    const [chunk] = packer.finish();
    expect(s.scan(chunk!, 0, chunk!.length)).toBe(chunk!.length);
    expect(() => s.scan(chunk!, 0, chunk!.length)).toThrow(RecordStreamError); // 'a' after 'b'
    expect(() => packer.add(Buffer.alloc(0), Buffer.alloc(1))).toThrow(RangeError);
  });
});

describe('segment codec: the key-order check', () => {
  const rec = (k: Buffer, valueBytes = 1): Buffer => {
    const h = Buffer.alloc(6);
    h.writeUInt16LE(k.length, 0);
    h.writeUInt32LE(valueBytes, 2);
    return Buffer.concat([h, k, Buffer.alloc(valueBytes, 0x76)]);
  };
  // Scans `first` then `second`, in one call or split between two calls (the
  // second compared with the key kept from the first call); true when accepted.
  const accepts = (first: Buffer, second: Buffer, split: boolean): boolean => {
    const s = new RecordScanner();
    const a = rec(first);
    const b = rec(second);
    try {
      if (split) {
        expect(s.scan(a, 0, a.length)).toBe(a.length);
        expect(s.scan(b, 0, b.length)).toBe(b.length);
      } else {
        const both = Buffer.concat([a, b]);
        expect(s.scan(both, 0, both.length)).toBe(both.length);
      }
      return true;
    } catch (err) {
      expect(err).toBeInstanceOf(RecordStreamError);
      expect((err as Error).message).toMatch(/record 1 is out of key order/);
      return false;
    }
  };

  it('agrees with Buffer.compare for keys of every length, shared prefix and byte value (seeded)', () => {
    const seed = 0x5ca9;
    console.log(`key-order seed ${seed}`);
    const rnd = prng(seed);
    const byte = () => (rnd() < 0.5 ? 0x7f + Math.floor(rnd() * 3) : Math.floor(rnd() * 256)); // often equal, often >= 0x80
    for (let i = 0; i < 4000; i++) {
      const shared = Math.floor(rnd() * 12);
      const prefix = Buffer.from(Array.from({ length: shared }, byte));
      const tail = () => Buffer.from(Array.from({ length: Math.floor(rnd() * 7) }, byte));
      let a = Buffer.concat([prefix, tail()]);
      let b = Buffer.concat([prefix, tail()]);
      if (a.length === 0) a = Buffer.of(byte());
      if (b.length === 0) b = rnd() < 0.3 ? Buffer.from(a) : Buffer.of(byte());
      const expected = Buffer.compare(b, a) > 0;
      const what = `${a.toString('hex')} then ${b.toString('hex')}`;
      expect(accepts(a, b, false), what).toBe(expected);
      expect(accepts(a, b, true), `${what}, split`).toBe(expected);
    }
  });

  it('an order violation at, or straddling, a boundary of the decoder output is refused', () => {
    // Records of 1 KiB with increasing keys filling the decoder's first output
    // buffer exactly (or to 3 bytes short of it), then a key lower than the last.
    const key = (i: number) => Buffer.from(`k-${String(i).padStart(8, '0')}`);
    const recordBytes = 1024;
    const valueBytes = recordBytes - 6 - key(0).length;
    for (const short of [0, 3]) {
      const n = CHUNK_BYTES / recordBytes;
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) parts.push(rec(key(i + 10), i === n - 1 ? valueBytes - short : valueBytes));
      parts.push(rec(key(5), 100), rec(key(20_000), 100));
      const { stored, params } = encodeRaw([Buffer.concat(parts)], n + 2);
      expect(decodeError(stored, params), `short ${short}`).toMatch(new RegExp(`record ${n} is out of key order`));
      // The same stream in order decodes.
      parts[n] = rec(key(n + 10), 100);
      const ok = encodeRaw([Buffer.concat(parts)], n + 2);
      expect(decode(ok.stored, ok.params).length, `short ${short}`).toBe(n + 2);
    }
  });

  it('a record length pointing past the next records is refused by the count, or as a cut record', () => {
    const k = (s: string) => Buffer.from(s);
    const good = Buffer.concat([rec(k('a'), 10), rec(k('b'), 10), rec(k('c'), 10)]);
    // The first value length swallows exactly the next record: 2 records where the manifest says 3.
    const swallow = Buffer.from(good);
    swallow.writeUInt32LE(10 + 17, 2);
    let { stored, params } = encodeRaw([swallow], 3);
    expect(decodeError(stored, params)).toMatch(/holds 2 records, the manifest records 3/);
    // A key length reaching past the end of the stream.
    const cut = Buffer.from(good);
    cut.writeUInt16LE(0xffff, 17);
    ({ stored, params } = encodeRaw([cut], 3));
    expect(decodeError(stored, params)).toMatch(/ends inside a record|longer than the rest/);
  });
});

describe('segment codec: decompression bombs', () => {
  // A hand-made zstd frame of RLE blocks: 256 KiB on disk, 8 GiB declared and
  // produced. A decoder that trusted the frame header would allocate 8 GiB.
  function rleBomb(gib: number): Buffer {
    const total = gib * 2 ** 30;
    const block = 128 * 1024;
    const blocks = total / block;
    const head = Buffer.alloc(4 + 1 + 1 + 8);
    head.writeUInt32LE(0xfd2fb528, 0);
    head[4] = 0xc0; // 8-byte content size, not single-segment, no checksum, no dict
    head[5] = 10 << 3; // window 2^20
    head.writeBigUInt64LE(BigInt(total), 6);
    const body = Buffer.alloc(blocks * 4);
    for (let i = 0; i < blocks; i++) {
      const last = i === blocks - 1 ? 1 : 0;
      const h = (block << 3) | (1 << 1) | last; // RLE block of 128 KiB
      body.writeUIntLE(h, i * 4, 3);
      body[i * 4 + 3] = 0x41;
    }
    return Buffer.concat([head, body]);
  }

  it('a segment declaring 8 GiB stops at the raw size from the manifest, allocating nothing like it', () => {
    const stored = rleBomb(8);
    const params: DecodeParams = {
      storedBytes: stored.length,
      rawBytes: 4096,
      entries: 1,
      sha256: createHash('sha256').update(stored).digest('hex'),
    };
    const before = process.memoryUsage().rss;
    const started = performance.now();
    expect(decodeError(stored, params)).toMatch(/inflates past the 4096 raw bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
    expect(performance.now() - started).toBeLessThan(5000); // stopped early, not after 8 GiB
  });

  it('a real zstd bomb (64 MiB of zeros in a few KiB) with a small recorded raw size', () => {
    const enc = new SegmentEncoder({ level: 3 });
    const parts = [enc.push(Buffer.alloc(64 << 20))];
    const { tail, result } = enc.finish();
    parts.push(tail);
    const stored = Buffer.concat(parts);
    expect(stored.length).toBeLessThan(64 * 1024);
    expect(
      decodeError(stored, { storedBytes: stored.length, rawBytes: 1000, entries: 1, sha256: result.sha256 }),
    ).toMatch(/inflates past/);
  });
});
