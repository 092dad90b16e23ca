import type { ErrorCode } from './codes.js';
import { InvalidArgumentError } from './invalid-argument-error.js';
import type { TidemarkErrorOptions } from './tidemark-error.js';

/** A state key was empty, too long, or not a string or Buffer. Nothing was stored. */
export class InvalidKeyError extends InvalidArgumentError {
  static override readonly code: ErrorCode = 'ERR_TIDEMARK_INVALID_KEY';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(message, options, InvalidKeyError.code);
  }
}
