import type { ErrorCode } from './codes.js';
import { ConfigError } from './config-error.js';
import type { TidemarkErrorOptions } from './tidemark-error.js';

/**
 * A checkpoint encryption key given in options is malformed (not 32 bytes, or
 * `previousKeys` not an array). A {@link ConfigError}; the CLI exits 6 on it,
 * as on a key that does not match (`CheckpointKeyError`).
 */
export class EncryptionKeyError extends ConfigError {
  static override readonly code: ErrorCode = 'ERR_TIDEMARK_ENCRYPTION_KEY';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(message, options, EncryptionKeyError.code);
  }
}
