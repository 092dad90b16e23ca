import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** Options passed to a constructor or `open()` are invalid. */
export class ConfigError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CONFIG';

  /** @param code For subclasses only: their own code. */
  constructor(message: string, options?: TidemarkErrorOptions, code: ErrorCode = ConfigError.code) {
    super(code, message, options);
  }
}
