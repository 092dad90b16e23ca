import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A caller passed a value tidemark cannot accept (nothing was changed). */
export class InvalidArgumentError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_INVALID_ARGUMENT';

  /** @param code For subclasses only: their own code. */
  constructor(message: string, options?: TidemarkErrorOptions, code: ErrorCode = InvalidArgumentError.code) {
    super(code, message, options);
  }
}
