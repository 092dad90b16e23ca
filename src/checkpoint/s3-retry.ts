import { intOption, numberOption } from '../util/options.js';
import { ObjectStorageError } from '../errors/object-storage-error.js';

/** How {@link S3CheckpointStorage} retries transient failures. */
export interface S3RetryOptions {
  /** Attempts per request, the first included (default 6; 1 disables retries). */
  maxAttempts?: number;
  /** Backoff before the first retry, doubled each time (default 100 ms). */
  baseDelayMs?: number;
  /** Cap of one backoff (default 5000 ms). */
  maxDelayMs?: number;
  /** One attempt's deadline, response body included (default 30 000 ms); past it the attempt counts as a transient failure. */
  attemptTimeoutMs?: number;
}

/** Resolved {@link S3RetryOptions}. */
export interface S3RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  attemptTimeoutMs: number;
}

/** A transient failure about to be retried (fed to `onRetry` and the retries metric). */
export interface S3RetryEvent {
  /** The S3 operation: `PutObject`, `UploadPart`, `GetObject`, `ListObjectsV2`... */
  operation: string;
  /** Why: the server's code (`SlowDown`, `InternalError`), `http_<status>`, a network code (`ECONNRESET`) or `timeout`. */
  reason: string;
  /** The attempt that failed, 1-based. */
  attempt: number;
  /** Backoff before the next attempt. */
  delayMs: number;
}

export function resolveRetry(options: S3RetryOptions = {}): S3RetryPolicy {
  const p = {
    maxAttempts: options.maxAttempts ?? 6,
    baseDelayMs: options.baseDelayMs ?? 100,
    maxDelayMs: options.maxDelayMs ?? 5000,
    attemptTimeoutMs: options.attemptTimeoutMs ?? 30_000,
  };
  intOption('retry.maxAttempts', p.maxAttempts, { min: 1, max: 100 });
  numberOption('retry.baseDelayMs', p.baseDelayMs, { min: 0 });
  numberOption('retry.maxDelayMs', p.maxDelayMs, { min: 0 });
  numberOption('retry.attemptTimeoutMs', p.attemptTimeoutMs, { min: 1 });
  return p;
}

/** Backoff before retry number `attempt` (1-based): "full jitter", uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffMs(policy: S3RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

const PERMANENT_CODES = new Set([
  'AccessDenied',
  'NoSuchBucket',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidToken',
  'ExpiredToken',
  'NotImplemented',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
]);
const THROTTLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'RequestThrottled',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'ConditionalRequestConflict',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

/** What went wrong with one attempt. */
export interface Classified {
  transient: boolean;
  /** Server code, `http_<status>`, network code or `timeout`. */
  reason: string;
  serverCode: string | undefined;
  httpStatus: number | undefined;
}

/** Sorts an SDK or network error into transient (retry) or permanent (report at once). */
export function classify(err: unknown): Classified {
  const e = err as
    | {
        name?: string;
        Code?: string;
        code?: string;
        $metadata?: { httpStatusCode?: number };
        $fault?: string;
        message?: string;
        cause?: unknown;
      }
    | undefined;
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.Code ?? e?.name;
  const netCode = typeof e?.code === 'string' ? e.code : (e?.cause as { code?: unknown } | undefined)?.code;
  // The SDK renames ECONNRESET, EPIPE and ETIMEDOUT errors to TimeoutError: the code says what happened.
  if (typeof netCode === 'string' && NETWORK_CODES.has(netCode))
    return { transient: true, reason: netCode, serverCode: netCode, httpStatus: status };
  if (name === 'AttemptTimeout' || name === 'TimeoutError')
    return { transient: true, reason: 'timeout', serverCode: undefined, httpStatus: status };
  if (name !== undefined && PERMANENT_CODES.has(name))
    return { transient: false, reason: name, serverCode: name, httpStatus: status };
  if (name !== undefined && THROTTLE_CODES.has(name))
    return { transient: true, reason: name, serverCode: name, httpStatus: status };
  if (status !== undefined) {
    const transient = status >= 500 || status === 429 || status === 408;
    const known = name !== undefined && !/^(Error|Unknown|\d+)$/.test(name);
    return {
      transient,
      reason: known ? name : `http_${status}`,
      serverCode: known ? name : undefined,
      httpStatus: status,
    };
  }
  // No response at all: a dropped connection the SDK could not name, a
  // truncated body, a parse of half a reply. The request can be retried.
  if (
    /socket hang up|aborted|premature close|ECONNRESET|EPIPE|terminated|Unexpected end|Deserialization error|closed/i.test(
      e?.message ?? '',
    )
  ) {
    return { transient: true, reason: 'ECONNRESET', serverCode: undefined, httpStatus: undefined };
  }
  return { transient: false, reason: name ?? 'unknown', serverCode: name, httpStatus: undefined };
}

/** The error reported for a failed request: permanent at once, transient once the attempts are spent. */
export function objectStorageError(
  what: string,
  location: string,
  err: unknown,
  c: Classified,
  attempts: number,
): ObjectStorageError {
  const detail = err instanceof Error ? err.message : String(err);
  const hint =
    c.reason === 'AccessDenied' || c.reason === 'InvalidAccessKeyId' || c.reason === 'SignatureDoesNotMatch'
      ? ' (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy)'
      : c.reason === 'NoSuchBucket'
        ? ' (the bucket does not exist: create it, or check the bucket name and AWS_ENDPOINT_URL)'
        : '';
  const after = c.transient ? ` after ${attempts} attempt${attempts === 1 ? '' : 's'}` : '';
  return new ObjectStorageError(
    `${what} in ${location} failed${after}: ${c.reason}${detail && detail !== c.reason ? ` (${detail})` : ''}${hint}`,
    c.serverCode,
    c.httpStatus,
    c.transient,
    {
      cause: err,
    },
  );
}
