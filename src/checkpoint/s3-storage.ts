import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors/config-error.js';
import { checkOptions, functionOption, intOption } from '../util/options.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import {
  backoffMs,
  classify,
  objectStorageError,
  resolveRetry,
  type S3RetryEvent,
  type S3RetryOptions,
  type S3RetryPolicy,
} from './s3-retry.js';
import {
  isValidKey,
  notFound,
  type CheckpointStorage,
  type ObjectWriter,
  type ReadChunksOptions,
  type ReadOptions,
  type StoredObject,
} from './storage.js';

/** Smallest part S3 accepts (all parts but the last). */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** Default multipart part size: objects up to this size are one PUT. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;
// S3's limit of parts per upload.
const MAX_PARTS = 10_000;
// Keys under this prefix are rewritten in place (reader markers are refreshed).
const REWRITTEN_PREFIX = 'readers/';

/** Options for {@link S3CheckpointStorage}. */
export interface S3CheckpointStorageOptions {
  /** Bucket name. It must exist. */
  bucket: string;
  /** Key prefix inside the bucket (`team/orders`; a trailing `/` is added); default none. */
  prefix?: string;
  /** Region (default: the SDK's chain, e.g. AWS_REGION, else `us-east-1`). */
  region?: string;
  /** Endpoint of an S3-compatible server (default: AWS, or AWS_ENDPOINT_URL as the SDK reads it). */
  endpoint?: string;
  /** Path-style addressing (`http://host/bucket/key`); default: true when `endpoint` is an IP address or localhost. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default: the SDK's chain (environment, profile, web identity, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Multipart part size in bytes (>= 5 MiB; default 8 MiB). A writer holds at most one part in memory. */
  partBytes?: number;
  /**
   * Publish objects with `If-None-Match: *` so an existing key is never
   * overwritten (a second writer of one id gets an error). Default true;
   * turn off only for a server that rejects the header.
   */
  conditionalWrites?: boolean;
  /** Retries of transient failures. */
  retry?: S3RetryOptions;
  /** Called before each retry of a transient failure (the retries metric listens here). */
  onRetry?: (event: S3RetryEvent) => void;
  /** A client to use instead of building one (its own retries should be off: `maxAttempts: 1`). */
  client?: S3Client;
}

/**
 * Checkpoint storage in an S3 bucket (or an S3-compatible server): key `a/b`
 * is object `<prefix>/a/b`. Objects are published by one PUT, or for
 * objects past `partBytes` by a multipart upload completed on `commit()`, so
 * nothing is visible before it; with `If-None-Match: *` (default) no object
 * is ever overwritten. Transient failures are retried with exponential
 * backoff and full jitter; permanent ones reject at once with an
 * {@link ObjectStorageError}. `rename` is a copy then a delete, so a stop
 * between the two leaves both objects, never neither.
 */
export class S3CheckpointStorage implements CheckpointStorage {
  readonly location: string;
  /** The SDK client (shared by every request of this storage). */
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly partBytes: number;
  private readonly conditional: boolean;
  private readonly policy: S3RetryPolicy;
  private readonly onRetry: ((event: S3RetryEvent) => void) | undefined;

  constructor(options: S3CheckpointStorageOptions) {
    checkOptions(options, 'S3 storage', [
      'bucket',
      'prefix',
      'region',
      'endpoint',
      'forcePathStyle',
      'credentials',
      'partBytes',
      'conditionalWrites',
      'retry',
      'onRetry',
      'client',
    ]);
    if (typeof options.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new ConfigError(
        `"bucket" must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens), got ${JSON.stringify(options.bucket)}`,
      );
    }
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix !== '' && !isValidKey(prefix))
      throw new ConfigError(`"prefix" must be a key such as team/orders, got ${JSON.stringify(options.prefix)}`);
    const partBytes = intOption('partBytes', options.partBytes, { min: MIN_PART_BYTES, default: DEFAULT_PART_BYTES });
    functionOption('onRetry', options.onRetry);
    this.bucket = options.bucket;
    this.prefix = prefix === '' ? '' : `${prefix}/`;
    this.partBytes = partBytes;
    this.conditional = options.conditionalWrites ?? true;
    this.policy = resolveRetry(options.retry);
    this.onRetry = options.onRetry;
    this.location = `s3://${this.bucket}/${this.prefix}`;
    this.client =
      options.client ??
      new S3Client({
        ...(options.region !== undefined ? { region: options.region } : {}),
        ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
        ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
        forcePathStyle: options.forcePathStyle ?? (options.endpoint !== undefined && isLocalEndpoint(options.endpoint)),
        // Our own loop retries (and counts) every failure.
        maxAttempts: 1,
        // Segments and manifests carry their own SHA-256; extra CRCs only where S3 requires them.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          connectionTimeout: Math.min(this.policy.attemptTimeoutMs, 10_000),
          socketTimeout: this.policy.attemptTimeoutMs,
        },
      });
  }

  async create(key: string): Promise<ObjectWriter> {
    const objectKey = this.objectKey(key);
    const conditional = this.conditional && !key.startsWith(REWRITTEN_PREFIX);
    return new S3ObjectWriter(this, key, objectKey, conditional);
  }

  async read(key: string, options: ReadOptions = {}): Promise<Buffer> {
    const objectKey = this.objectKey(key);
    return this.attempt('GetObject', `read of ${key}`, async (signal) => {
      const res = await this.getObject(key, objectKey, undefined, undefined, signal);
      const size = res.ContentLength ?? 0;
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        destroyBody(res);
        throw new InvalidArgumentError(`${key} is ${size} bytes, more than the ${options.maxBytes} expected`);
      }
      const bytes = Buffer.from(await res.Body!.transformToByteArray());
      if (res.ContentLength !== undefined && bytes.length !== res.ContentLength)
        throw Object.assign(new Error(`short read of ${key}`), { code: 'ECONNRESET' });
      return bytes;
    });
  }

  async *readChunks(key: string, options: ReadChunksOptions = {}): AsyncIterable<Buffer> {
    const objectKey = this.objectKey(key);
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    let offset = 0;
    let etag: string | undefined;
    let size: number | undefined;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let failures = 0;
    for (;;) {
      // (Re)open at the first byte not yet delivered, pinned to the same
      // object version by its ETag.
      const res = await this.attempt('GetObject', `read of ${key}`, (signal) =>
        this.getObject(key, objectKey, offset === 0 ? undefined : `bytes=${offset}-`, etag, signal, false),
      );
      etag ??= res.ETag;
      size ??= res.ContentLength;
      const body = res.Body as unknown as AsyncIterable<Uint8Array> & { destroy?: () => void };
      try {
        for await (const part of body) {
          offset += part.length;
          pending.push(Buffer.from(part.buffer, part.byteOffset, part.length));
          pendingBytes += part.length;
          if (pendingBytes >= chunkBytes) {
            const out = Buffer.concat(pending, pendingBytes);
            pending = [];
            pendingBytes = 0;
            yield out;
          }
        }
        if (size !== undefined && offset < size)
          throw Object.assign(new Error(`connection closed after ${offset} of ${size} bytes of ${key}`), {
            code: 'ECONNRESET',
          });
        break;
      } catch (err) {
        body.destroy?.();
        const c = classify(err);
        failures++;
        if (!c.transient || failures >= this.policy.maxAttempts)
          throw objectStorageError(`read of ${key}`, this.location, err, c, failures);
        const delayMs = backoffMs(this.policy, failures);
        this.onRetry?.({ operation: 'GetObject', reason: c.reason, attempt: failures, delayMs });
        await sleep(delayMs);
      }
    }
    if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
  }

  async list(prefix: string): Promise<StoredObject[]> {
    if (prefix !== '' && (!prefix.endsWith('/') || !isValidKey(prefix.slice(0, -1)))) {
      throw new InvalidArgumentError(`invalid list prefix ${JSON.stringify(prefix)}: use '' or a key followed by '/'`);
    }
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const res = await this.attempt('ListObjectsV2', `list of ${prefix || '/'}`, (signal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: `${this.prefix}${prefix}`,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        ),
      );
      for (const o of res.Contents ?? []) {
        const key = o.Key?.slice(this.prefix.length);
        // Objects that are not ours (other tools' files, directory markers) are not listed.
        if (key === undefined || !isValidKey(key)) continue;
        out.push({ key, size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? 0 });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out;
  }

  async remove(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    await this.attempt('DeleteObject', `removal of ${key}`, (signal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal }),
    );
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.objectKey(from);
    const dst = this.objectKey(to);
    try {
      await this.attempt('CopyObject', `copy of ${from} to ${to}`, (signal) =>
        this.client.send(
          new CopyObjectCommand({ Bucket: this.bucket, Key: dst, CopySource: `${this.bucket}/${encodeKey(src)}` }),
          { abortSignal: signal },
        ),
      );
    } catch (err) {
      if (isMissing(err)) throw notFound(from, this.location);
      throw err;
    }
    await this.remove(from);
  }

  /** Aborts multipart uploads under the prefix started more than `olderThanMs` ago; returns their keys. */
  async cleanup(olderThanMs: number): Promise<string[]> {
    const cutoff = Date.now() - olderThanMs;
    const removed: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const res = await this.attempt('ListMultipartUploads', 'listing of incomplete uploads', (signal) =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
          { abortSignal: signal },
        ),
      );
      for (const u of res.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined || (u.Initiated?.getTime() ?? 0) > cutoff) continue;
        await this.abortUpload(u.Key, u.UploadId);
        removed.push(u.Key.slice(this.prefix.length));
      }
      if (!res.IsTruncated) break;
      keyMarker = res.NextKeyMarker;
      uploadIdMarker = res.NextUploadIdMarker;
    }
    return removed;
  }

  /** @internal Runs `op` with a deadline per attempt, retrying transient failures. */
  async attempt<T>(operation: string, what: string, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      const ac = new AbortController();
      const timer = setTimeout(
        () =>
          ac.abort(
            Object.assign(new Error(`${operation} took longer than ${this.policy.attemptTimeoutMs} ms`), {
              name: 'AttemptTimeout',
            }),
          ),
        this.policy.attemptTimeoutMs,
      );
      try {
        return await op(ac.signal);
      } catch (caught) {
        const err = ac.signal.aborted ? ac.signal.reason : caught;
        if (
          err instanceof InvalidArgumentError ||
          isMissing(err) ||
          (err as { code?: unknown })?.code === 'ENOENT' ||
          isPreconditionFailed(err)
        )
          throw err;
        const c = classify(err);
        if (!c.transient || n >= this.policy.maxAttempts) throw objectStorageError(what, this.location, err, c, n);
        const delayMs = backoffMs(this.policy, n);
        this.onRetry?.({ operation, reason: c.reason, attempt: n, delayMs });
        await sleep(delayMs);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** @internal */
  async abortUpload(objectKey: string, uploadId: string): Promise<void> {
    try {
      await this.attempt('AbortMultipartUpload', `abort of upload ${objectKey}`, (signal) =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }), {
          abortSignal: signal,
        }),
      );
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  /** @internal Size of a published object, or undefined when there is none. */
  async sizeOf(objectKey: string): Promise<number | undefined> {
    try {
      const res = await this.attempt('HeadObject', `head of ${objectKey}`, (signal) =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal }),
      );
      return res.ContentLength;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** @internal */
  retryPolicy(): S3RetryPolicy {
    return this.policy;
  }

  private async getObject(
    key: string,
    objectKey: string,
    range: string | undefined,
    etag: string | undefined,
    signal: AbortSignal,
    bounded = true,
  ): Promise<GetObjectCommandOutput> {
    try {
      // A streamed read outlives one attempt's deadline: only the open is bounded then (the socket timeout bounds each wait for bytes).
      return await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: range, IfMatch: etag }),
        bounded ? { abortSignal: signal } : {},
      );
    } catch (err) {
      if (isMissing(err)) throw notFound(key, this.location);
      if (etag !== undefined && isPreconditionFailed(err)) throw notFound(key, this.location);
      throw err;
    }
  }

  private objectKey(key: string): string {
    if (!isValidKey(key)) throw new InvalidArgumentError(`invalid storage key ${JSON.stringify(key)}`);
    return `${this.prefix}${key}`;
  }
}

/**
 * One object being written: bytes gather into a part buffer; an object that
 * stays under one part is a single PUT on `commit()`, a larger one a
 * multipart upload whose parts go out as they fill (memory: one part).
 */
class S3ObjectWriter implements ObjectWriter {
  private parts: Buffer[] = [];
  private buffered = 0;
  private size = 0;
  private uploadId: string | undefined;
  private readonly etags: Array<{ ETag: string | undefined; PartNumber: number }> = [];
  private done = false;

  constructor(
    private readonly s: S3CheckpointStorage,
    private readonly key: string,
    private readonly objectKey: string,
    private readonly conditional: boolean,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`write after commit or abort of ${this.key}`);
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.s.partBytes - this.buffered);
      // Copy: the caller may reuse its chunk once we resolve.
      this.parts.push(Buffer.from(chunk.subarray(off, off + n)));
      this.buffered += n;
      this.size += n;
      off += n;
      if (this.buffered === this.s.partBytes) await this.flushPart();
    }
  }

  async commit(): Promise<number> {
    if (this.done) throw new Error(`${this.key} was already committed or aborted`);
    this.done = true;
    try {
      if (this.uploadId === undefined) {
        const body = Buffer.concat(this.parts, this.buffered);
        this.parts = [];
        await this.publish('PutObject', (signal) =>
          this.s.client.send(
            new PutObjectCommand({
              Bucket: this.s.bucket,
              Key: this.objectKey,
              Body: body,
              ContentLength: body.length,
              IfNoneMatch: this.conditional ? '*' : undefined,
            }),
            {
              abortSignal: signal,
            },
          ),
        );
      } else {
        if (this.buffered > 0) await this.flushPart();
        const uploadId = this.uploadId;
        await this.publish('CompleteMultipartUpload', (signal) =>
          this.s.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.s.bucket,
              Key: this.objectKey,
              UploadId: uploadId,
              MultipartUpload: { Parts: this.etags },
              IfNoneMatch: this.conditional ? '*' : undefined,
            }),
            { abortSignal: signal },
          ),
        );
        this.uploadId = undefined;
      }
    } catch (err) {
      await this.discard();
      throw err;
    }
    return this.size;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.discard();
  }

  private async discard(): Promise<void> {
    this.parts = [];
    this.buffered = 0;
    const id = this.uploadId;
    this.uploadId = undefined;
    // Best effort: an upload left behind is invisible, and cleanup() (or a lifecycle rule) aborts it later.
    if (id !== undefined) await this.s.abortUpload(this.objectKey, id).catch(() => undefined);
  }

  // A conditional publish that fails 412 after an earlier attempt may have
  // been our own attempt that succeeded with its answer lost: the object of
  // our size is then ours (keys carry the writer's random id).
  private async publish(operation: string, op: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    let attempts = 0;
    try {
      await this.s.attempt(operation, `publication of ${this.key}`, (signal) => {
        attempts++;
        return op(signal);
      });
    } catch (err) {
      if (
        isPreconditionFailed(err) &&
        attempts > 1 &&
        (await this.s.sizeOf(this.objectKey).catch(() => undefined)) === this.size
      )
        return;
      if (isPreconditionFailed(err)) {
        throw Object.assign(
          new Error(`${this.key} already exists in ${this.s.location}: objects are never overwritten`),
          { code: 'EEXIST', cause: err },
        );
      }
      throw err;
    }
  }

  private async flushPart(): Promise<void> {
    const body = Buffer.concat(this.parts, this.buffered);
    this.parts = [];
    this.buffered = 0;
    if (this.uploadId === undefined) {
      const res = await this.s.attempt('CreateMultipartUpload', `upload of ${this.key}`, (signal) =>
        this.s.client.send(new CreateMultipartUploadCommand({ Bucket: this.s.bucket, Key: this.objectKey }), {
          abortSignal: signal,
        }),
      );
      this.uploadId = res.UploadId;
    }
    const partNumber = this.etags.length + 1;
    if (partNumber > MAX_PARTS)
      throw new InvalidArgumentError(
        `${this.key} needs more than ${MAX_PARTS} parts of ${this.s.partBytes} bytes: raise partBytes`,
      );
    const uploadId = this.uploadId;
    const res = await this.s.attempt('UploadPart', `upload of ${this.key}`, (signal) =>
      this.s.client.send(
        new UploadPartCommand({
          Bucket: this.s.bucket,
          Key: this.objectKey,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
        {
          abortSignal: signal,
        },
      ),
    );
    this.etags.push({ ETag: res.ETag, PartNumber: partNumber });
  }
}

/** True for an endpoint whose host is an IP address or localhost (path-style addressing then). */
export function isLocalEndpoint(endpoint: string): boolean {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return false;
  }
  return (
    host === 'localhost' || host.endsWith('.localhost') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')
  );
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.Code ?? e?.name;
  return (
    name === 'NoSuchKey' ||
    name === 'NotFound' ||
    name === 'NoSuchUpload' ||
    (e?.$metadata?.httpStatusCode === 404 && name !== 'NoSuchBucket')
  );
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.$metadata?.httpStatusCode === 412 || (e?.Code ?? e?.name) === 'PreconditionFailed';
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function destroyBody(res: GetObjectCommandOutput): void {
  (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
}
