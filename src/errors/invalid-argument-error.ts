import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A caller passed a value tidemark cannot accept (nothing was changed). */
export class InvalidArgumentError extends TidemarkError {
  static readonly code: string = 'ERR_TIDEMARK_INVALID_ARGUMENT';

  constructor(message: string, options?: TidemarkErrorOptions, code: string = InvalidArgumentError.code) {
    super(code, message, options);
  }
}
