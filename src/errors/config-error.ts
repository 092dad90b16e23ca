import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** Options passed to a constructor or `open()` are invalid. */
export class ConfigError extends TidemarkError {
  static readonly code: string = 'ERR_TIDEMARK_CONFIG';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(ConfigError.code, message, options);
  }
}
