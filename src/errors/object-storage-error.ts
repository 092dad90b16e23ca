import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * An object store (S3) refused a request: permanently (access denied, no such
 * bucket, bad credentials: reported at once, never retried) or transiently
 * after every retry was spent (throttling, 5xx, resets, timeouts). Nothing
 * half-written is visible either way.
 */
export class ObjectStorageError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_OBJECT_STORAGE';

  constructor(
    message: string,
    /** The server's error code (`AccessDenied`, `NoSuchBucket`, `SlowDown`...) or a network error code (`ECONNRESET`). */
    readonly serverCode: string | undefined,
    /** The HTTP status, when a response came. */
    readonly httpStatus: number | undefined,
    /** True when the failure was a transient one that outlasted the retries. */
    readonly transient: boolean,
    options?: TidemarkErrorOptions,
  ) {
    super(ObjectStorageError.code, message, options);
  }
}
