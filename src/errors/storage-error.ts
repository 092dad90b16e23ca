import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * The disk refused a write or read (ENOSPC, EIO, a full LMDB map...). Nothing
 * half-written is visible: the operation can be retried once the cause is fixed.
 */
export class StorageError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_STORAGE';

  constructor(
    message: string,
    /** The system error code (e.g. `ENOSPC`), when known. */
    readonly syscallCode: string | undefined,
    options?: TidemarkErrorOptions,
  ) {
    super(StorageError.code, message, options);
  }
}
