import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * An encrypted checkpoint cannot be read with the key(s) given: none was
 * given, or the key's fingerprint differs from the one in the manifest. A
 * configuration problem, not corruption: the checkpoint is left untouched.
 */
export class CheckpointKeyError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_KEY';

  constructor(
    message: string,
    /** The checkpoint's id. */
    readonly checkpointId: string,
    /** Fingerprint of the key the checkpoint was written with. */
    readonly keyFingerprint: string,
    options?: TidemarkErrorOptions,
  ) {
    super(CheckpointKeyError.code, message, options);
  }
}
