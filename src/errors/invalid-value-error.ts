import type { ErrorCode } from './codes.js';
import { InvalidArgumentError } from './invalid-argument-error.js';
import type { TidemarkErrorOptions } from './tidemark-error.js';

/** A state value was `undefined` or cannot be serialized with msgpack. Nothing was stored. */
export class InvalidValueError extends InvalidArgumentError {
  static override readonly code: ErrorCode = 'ERR_TIDEMARK_INVALID_VALUE';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(message, options, InvalidValueError.code);
  }
}
