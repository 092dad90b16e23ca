import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkpointTime, isCheckpointId, newCheckpointId } from '../../src/checkpoint/checkpoint-id.js';
import { decodeManifest, encodeManifest, segmentFileName, type Manifest } from '../../src/checkpoint/manifest.js';
import { CheckpointCorruptError, CheckpointFormatError } from '../../src/index.js';

const ID = '20261122T193000123Z-0123456789abcdef';

function sample(): Manifest {
  return {
    format: 'tidemark-checkpoint',
    formatVersion: 1,
    id: ID,
    createdAt: '2026-11-22T19:30:00.123Z',
    schemaVersion: 1,
    compression: { codec: 'zstd', level: 3 },
    encryption: { algorithm: 'aes-256-gcm', keyFingerprint: '0011223344556677' },
    writer: { host: 'h', pid: 42 },
    partitions: [
      {
        topic: 'orders',
        partition: 0,
        offset: '100',
        entries: 3,
        rawBytes: 60,
        storedBytes: 90,
        sha256: 'a'.repeat(64),
        file: 'orders.0.seg',
      },
      {
        topic: 'orders',
        partition: 1,
        offset: null,
        entries: 0,
        rawBytes: 0,
        storedBytes: 37,
        sha256: 'b'.repeat(64),
        file: 'orders.1.seg',
      },
    ],
  };
}

/** Re-encodes an edited manifest body with a correct checksum (as a buggy or newer writer would). */
function withChecksum(body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([b, Buffer.from(`sha256:${createHash('sha256').update(b).digest('hex')}\n`)]);
}

function corruptReason(bytes: Buffer, id = ID): string {
  try {
    decodeManifest(id, bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointCorruptError);
    expect((err as CheckpointCorruptError).code).toBe('ERR_TIDEMARK_CHECKPOINT_CORRUPT');
    return (err as CheckpointCorruptError).reason;
  }
  throw new Error('manifest accepted');
}

describe('manifest', () => {
  it('round-trips, and ends with the sha256 of everything before its last line', () => {
    const bytes = encodeManifest(sample());
    expect(decodeManifest(ID, bytes)).toEqual(sample());
    const text = bytes.toString();
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('');
    const body = text.slice(0, text.length - lines.at(-2)!.length - 1);
    expect(lines.at(-2)).toBe(`sha256:${createHash('sha256').update(body).digest('hex')}`);
    expect(JSON.parse(body)).toEqual(sample());
  });

  it('every single flipped bit anywhere is corruption (never a newer format, never accepted)', () => {
    const bytes = encodeManifest(sample());
    for (let byte = 0; byte < bytes.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(bytes);
        bad[byte]! ^= 1 << bit;
        expect(corruptReason(bad), `byte ${byte} bit ${bit}`).toMatch(/checksum|sha256 line|truncated/);
      }
    }
  });

  it('every truncation, an empty file and garbage are corruption', () => {
    const bytes = encodeManifest(sample());
    for (let len = 0; len < bytes.length; len++) corruptReason(bytes.subarray(0, len));
    expect(corruptReason(Buffer.alloc(0))).toMatch(/truncated/);
    expect(corruptReason(Buffer.from('hello\nworld\n'))).toMatch(/sha256 line/);
  });

  it('a correct checksum over something that is not a manifest is still corruption, with the reason', () => {
    expect(corruptReason(withChecksum('{not json\n'))).toMatch(/not valid JSON/);
    expect(corruptReason(withChecksum('[1,2]\n'))).toMatch(/format/);
    const edit = (f: (m: Record<string, unknown>) => void): Buffer => {
      const m = sample() as unknown as Record<string, unknown>;
      f(m);
      return withChecksum(`${JSON.stringify(m)}\n`);
    };
    const p0 = (m: Record<string, unknown>) => (m.partitions as Array<Record<string, unknown>>)[0]!;
    const cases: Array<[(m: Record<string, unknown>) => void, RegExp]> = [
      [(m) => (m.id = '20261122T193000123Z-ffffffffffffffff'), /belongs to checkpoint/],
      [(m) => (m.formatVersion = 0), /formatVersion/],
      [(m) => (m.createdAt = 'yesterday'), /createdAt/],
      [(m) => (m.schemaVersion = -1), /schemaVersion/],
      [(m) => (m.compression = { codec: 'gzip', level: 3 }), /compression/],
      [(m) => (m.encryption = { algorithm: 'rot13' }), /algorithm/],
      [(m) => (m.encryption = { algorithm: 'aes-256-gcm' }), /keyFingerprint/],
      [(m) => (m.writer = null), /writer/],
      [(m) => (m.partitions = {}), /partitions/],
      [(m) => (p0(m).topic = 'bad topic'), /topic/],
      [(m) => (p0(m).partition = -1), /partition/],
      [(m) => (p0(m).offset = '-5'), /offset/],
      [(m) => (p0(m).entries = 1.5), /entries/],
      [(m) => (p0(m).rawBytes = '60'), /rawBytes/],
      [(m) => (p0(m).sha256 = 'xyz'), /sha256/],
      [(m) => (p0(m).file = '../../etc/passwd'), /file/],
      [(m) => (m.partitions as unknown[]).reverse(), /sorted/],
      [(m) => (m.partitions as unknown[]).push({ ...p0(m) }), /sorted/],
    ];
    for (const [f, re] of cases) expect(corruptReason(edit(f)), String(re)).toMatch(re);
  });

  it('a newer format version with a correct checksum is refused as such, with both versions', () => {
    const m = { ...sample(), formatVersion: 3, somethingNew: true };
    let err: unknown;
    try {
      decodeManifest(ID, withChecksum(`${JSON.stringify(m)}\n`));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err).toMatchObject({
      code: 'ERR_TIDEMARK_CHECKPOINT_FORMAT',
      formatVersion: 3,
      supportedVersion: 2,
      checkpointId: ID,
    });
    expect((err as Error).message).toMatch(/format version 3, newer than the 2 this code reads/);
  });

  it('segment file names are safe and short, even for 249-character topics', () => {
    expect(segmentFileName({ topic: 'orders', partition: 7 })).toBe('orders.7.seg');
    const a = segmentFileName({ topic: 'a'.repeat(249), partition: 2147483647 });
    const b = segmentFileName({ topic: `${'a'.repeat(248)}b`, partition: 2147483647 });
    expect(a.length).toBeLessThan(255);
    expect(a).not.toBe(b);
  });
});

describe('checkpoint ids', () => {
  it('sort by time, are unique and increase within a process even in one millisecond', () => {
    const t = Date.UTC(2026, 10, 22, 19, 30, 0, 123);
    const ids = Array.from({ length: 1000 }, () => newCheckpointId(t));
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]).toMatch(/^20261122T193000123Z-[0-9a-f]{16}$/);
    expect(checkpointTime(ids[0]!)).toBe(t);
    const later = newCheckpointId(t + 86_400_000 * 400);
    expect(later > ids.at(-1)!).toBe(true);
  });

  it('recognizes ids and rejects look-alikes', () => {
    expect(isCheckpointId(ID)).toBe(true);
    for (const bad of [
      '',
      'quarantine',
      '20261322T193000123Z-0123456789abcdef',
      '20261122T193000123Z-0123',
      '../x',
      42,
    ]) {
      expect(isCheckpointId(bad), String(bad)).toBe(false);
    }
  });
});
