import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** The operation is not available in this configuration (e.g. `backup()` on the memory backend). Nothing was changed. */
export class UnsupportedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_UNSUPPORTED';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(UnsupportedError.code, message, options);
  }
}
