// The CPU-heavy half of a checkpoint: zstd, AES-256-GCM and SHA-256 over a
// segment's bytes, in both directions. Runs inside the codec worker; plain
// synchronous classes so it can also be tested directly.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  type CipherGCM,
  type DecipherGCM,
  type Hash,
} from 'node:crypto';
import zstd from 'zstd-napi/binding.js';
import { NONCE_BYTES, TAG_BYTES } from './encryption.js';
import { CHUNK_BYTES, RecordScanner, RecordStreamError, transferable } from './records.js';

/** zstd levels accepted for checkpoints. */
export const MIN_LEVEL = -7;
export const MAX_LEVEL = 22;
// zstd's default limit: a frame asking for a larger window (a 2 GiB one, say) is refused.
const WINDOW_LOG_MAX = 27;
const OUT_BYTES = zstd.cStreamOutSize();

/** Parameters of one segment to encode. */
export interface EncodeParams {
  level: number;
  /** AES-256 key; absent = no encryption. */
  key?: Uint8Array | undefined;
  /** Additional authenticated data (see segmentAad). */
  aad?: Uint8Array | undefined;
}

/** What an encoder produced in total. */
export interface EncodeResult {
  sha256: string;
  storedBytes: number;
  rawBytes: number;
}

/** Record stream -> stored segment bytes: zstd, then optional AES-256-GCM; SHA-256 over the result. */
export class SegmentEncoder {
  private readonly cctx = new zstd.CCtx();
  private readonly cipher: CipherGCM | undefined;
  private readonly hash: Hash = createHash('sha256');
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  private rawBytes = 0;
  private storedBytes = 0;
  private header: Buffer | undefined;

  constructor(params: EncodeParams) {
    this.cctx.setParameter(zstd.CParameter.compressionLevel, params.level);
    if (params.key !== undefined) {
      const nonce = randomBytes(NONCE_BYTES);
      this.cipher = createCipheriv('aes-256-gcm', params.key, nonce);
      if (params.aad !== undefined) this.cipher.setAAD(params.aad);
      this.header = nonce;
    }
  }

  /** Feeds raw record bytes; returns the stored bytes produced so far (often empty). */
  push(raw: Uint8Array): Buffer {
    this.rawBytes += raw.length;
    return this.emit(this.compress(raw, zstd.EndDirective.continue));
  }

  /** Ends the stream; returns the last stored bytes and the totals. */
  finish(): { tail: Buffer; result: EncodeResult } {
    const pieces = [this.emit(this.compress(Buffer.alloc(0), zstd.EndDirective.end))];
    if (this.cipher !== undefined) {
      const last = this.cipher.final();
      const tag = this.cipher.getAuthTag();
      pieces.push(this.seal(Buffer.concat([last, tag])));
    }
    const tail = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    return {
      tail,
      result: { sha256: this.hash.digest('hex'), storedBytes: this.storedBytes, rawBytes: this.rawBytes },
    };
  }

  private compress(src: Uint8Array, directive: number): Buffer {
    const pieces: Buffer[] = [];
    let input = src;
    for (;;) {
      const [remaining, produced, consumed] = this.cctx.compressStream2(this.out, input, directive);
      if (produced > 0) pieces.push(Buffer.from(this.out.subarray(0, produced)));
      input = input.subarray(consumed);
      const done =
        directive === zstd.EndDirective.end ? remaining === 0 : input.length === 0 && produced < this.out.length;
      if (done) break;
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  private emit(compressed: Buffer): Buffer {
    const body = this.cipher === undefined ? compressed : this.cipher.update(compressed);
    let out = body;
    if (this.header !== undefined) {
      out = Buffer.concat([this.header, body]);
      this.header = undefined;
    }
    return this.seal(out);
  }

  private seal(stored: Buffer): Buffer {
    this.hash.update(stored);
    this.storedBytes += stored.length;
    return stored;
  }
}

/** Parameters of one segment to decode, all from the manifest. */
export interface DecodeParams {
  storedBytes: number;
  rawBytes: number;
  entries: number;
  sha256: string;
  key?: Uint8Array | undefined;
  aad?: Uint8Array | undefined;
  /** A delta segment (format 2): tombstones allowed, and `deletes` of them expected when given. */
  delta?: boolean | undefined;
  deletes?: number | undefined;
  /**
   * The caller hashes the stored bytes itself (on its own thread, while this
   * decodes) and hands the digest to {@link SegmentDecoder.finish}.
   */
  hashedByCaller?: boolean | undefined;
}

/** A segment failed verification; `reason` says how. */
export class SegmentError extends Error {}

/**
 * Stored segment bytes -> verified record chunks. Checks, in order of
 * precedence for the reported reason: the stored size, the SHA-256, the GCM
 * tag, zstd integrity, the raw size (output is never allowed past it, so a
 * decompression bomb stops at `rawBytes` + 1 bytes), and the records. After
 * the first failure it only hashes, so a flipped bit is reported as a
 * checksum mismatch rather than whatever the decoder tripped on.
 */
export class SegmentDecoder {
  private readonly hash: Hash | undefined;
  private readonly dctx = new zstd.DCtx();
  private readonly scanner: RecordScanner;
  private decipher: DecipherGCM | undefined;
  private readonly encrypted: boolean;
  private received = 0;
  private produced = 0;
  private frameDone = false;
  // The last decompress call filled its output window: zstd may hold more.
  private pendingOutput = false;
  private failure: string | undefined;
  private out: Buffer;
  private filled = 0;
  private nonce = Buffer.alloc(0);
  private tag = Buffer.alloc(0);

  /** `allocate`: output buffers, each with its own ArrayBuffer (the worker reuses recycled ones). */
  constructor(
    private readonly params: DecodeParams,
    private readonly allocate: (size: number) => Buffer = transferable,
  ) {
    this.hash = params.hashedByCaller === true ? undefined : createHash('sha256');
    this.scanner = new RecordScanner(params.delta === true);
    this.dctx.setParameter(zstd.DParameter.windowLogMax, WINDOW_LOG_MAX);
    this.encrypted = params.key !== undefined;
    if (this.encrypted && params.storedBytes < NONCE_BYTES + TAG_BYTES)
      this.fail('segment is too short to be encrypted');
    this.out = allocate(Math.min(CHUNK_BYTES, params.rawBytes + 1));
  }

  /** Feeds stored bytes; returns chunks of whole, checked records (not yet authenticated: use only after finish()). */
  push(stored: Buffer): Buffer[] {
    const start = this.received;
    this.received += stored.length;
    this.hash?.update(stored);
    if (this.received > this.params.storedBytes)
      this.fail(`segment is larger than the ${this.params.storedBytes} bytes recorded`);
    if (this.received > this.params.storedBytes) return [];
    const emitted: Buffer[] = [];
    try {
      if (!this.encrypted) {
        if (this.failure === undefined) this.inflate(stored, emitted);
      } else this.decrypt(stored, start, emitted);
    } catch (err) {
      this.fail(
        err instanceof RecordStreamError || err instanceof SegmentError
          ? err.message
          : `zstd: ${(err as Error).message}`,
      );
    }
    return emitted;
  }

  /**
   * Ends the segment: returns the last chunk(s), or throws SegmentError with
   * the reason. `storedSha256`: the caller's digest of the stored bytes
   * (hex), when it hashed them (`hashedByCaller`).
   */
  finish(storedSha256?: string): Buffer[] {
    const { params } = this;
    const sha = this.hash === undefined ? storedSha256 : this.hash.digest('hex');
    if (this.received !== params.storedBytes) {
      throw new SegmentError(
        `segment is ${this.received} bytes, the manifest records ${params.storedBytes} (truncated or extended)`,
      );
    }
    if (sha !== params.sha256) throw new SegmentError('segment sha256 mismatch');
    // The tag before the decoder's complaints: garbage from a wrong key is
    // reported as what it is.
    if (this.decipher !== undefined) {
      try {
        this.decipher.setAuthTag(this.tag);
        this.decipher.final();
      } catch {
        throw new SegmentError(
          'decryption failed: the authentication tag does not match (tampered, or encrypted with another key)',
        );
      }
    }
    if (this.failure !== undefined) throw new SegmentError(this.failure);
    if (!this.frameDone) throw new SegmentError('zstd stream is truncated');
    if (this.produced !== params.rawBytes) {
      throw new SegmentError(`segment decompresses to ${this.produced} bytes, the manifest records ${params.rawBytes}`);
    }
    let end: number;
    try {
      end = this.scanner.scan(this.out, 0, this.filled);
    } catch (err) {
      throw new SegmentError((err as Error).message);
    }
    if (end !== this.filled) throw new SegmentError('record stream ends inside a record');
    if (this.scanner.entries !== params.entries) {
      throw new SegmentError(`segment holds ${this.scanner.entries} records, the manifest records ${params.entries}`);
    }
    if (params.deletes !== undefined && this.scanner.tombstones !== params.deletes) {
      throw new SegmentError(
        `segment holds ${this.scanner.tombstones} deletes, the manifest records ${params.deletes}`,
      );
    }
    return this.filled > 0 ? [this.out.subarray(0, this.filled)] : [];
  }

  private fail(reason: string): void {
    this.failure ??= reason;
  }

  // Splits the encrypted layout nonce || ciphertext || tag by absolute position.
  private decrypt(stored: Buffer, start: number, emitted: Buffer[]): void {
    const cipherEnd = this.params.storedBytes - TAG_BYTES;
    let p = 0;
    if (start < NONCE_BYTES) {
      const n = Math.min(NONCE_BYTES - start, stored.length);
      this.nonce = Buffer.concat([this.nonce, stored.subarray(0, n)]);
      p = n;
      if (this.nonce.length === NONCE_BYTES) {
        this.decipher = createDecipheriv('aes-256-gcm', this.params.key!, this.nonce);
        if (this.params.aad !== undefined) this.decipher.setAAD(this.params.aad);
      }
    }
    const bodyEnd = Math.max(p, Math.min(stored.length, cipherEnd - start));
    if (bodyEnd > p) {
      // Keep decrypting after a failure, so the tag still says whether the bytes were authentic.
      const plain = this.decipher!.update(stored.subarray(p, bodyEnd));
      if (this.failure === undefined) {
        try {
          this.inflate(plain, emitted);
        } catch (err) {
          this.fail(
            err instanceof RecordStreamError || err instanceof SegmentError
              ? err.message
              : `zstd: ${(err as Error).message}`,
          );
        }
      }
    }
    if (bodyEnd < stored.length) this.tag = Buffer.concat([this.tag, stored.subarray(Math.max(p, bodyEnd))]);
  }

  private inflate(compressed: Buffer, emitted: Buffer[]): void {
    let input = compressed;
    const limit = this.params.rawBytes + 1;
    for (;;) {
      if (input.length === 0 && !this.pendingOutput) return;
      if (this.frameDone) throw new SegmentError('bytes after the end of the zstd frame');
      if (this.filled === this.out.length) this.rotate(emitted);
      const room = Math.min(this.out.length - this.filled, limit - this.produced);
      const [ret, wrote, read] = this.dctx.decompressStream(this.out.subarray(this.filled, this.filled + room), input);
      this.filled += wrote;
      this.produced += wrote;
      input = input.subarray(read);
      if (this.produced > this.params.rawBytes) {
        throw new SegmentError(
          `segment inflates past the ${this.params.rawBytes} raw bytes recorded in the manifest (decompression bomb?)`,
        );
      }
      this.frameDone = ret === 0;
      this.pendingOutput = wrote === room && !this.frameDone;
      if (wrote === 0 && read === 0 && input.length > 0 && !this.frameDone)
        throw new SegmentError('zstd made no progress');
    }
  }

  // The output buffer is full: hand out its whole records and carry the
  // partial last one into a fresh buffer big enough for it.
  private rotate(emitted: Buffer[]): void {
    const boundary = this.scanner.scan(this.out, 0, this.filled);
    const tail = this.out.subarray(boundary, this.filled);
    const needed = Math.max(this.scanner.incompleteRecordBytes, tail.length + 1);
    const remaining = this.params.rawBytes + 1 - (this.produced - tail.length);
    if (needed > remaining) throw new SegmentError('a record is longer than the rest of the segment');
    if (boundary > 0) emitted.push(this.out.subarray(0, boundary));
    const next = this.allocate(Math.min(Math.max(CHUNK_BYTES, needed), remaining));
    tail.copy(next, 0);
    this.out = next;
    this.filled = tail.length;
  }
}
