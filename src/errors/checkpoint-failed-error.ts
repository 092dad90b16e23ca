import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * Checkpoint storage failed in a way that is neither a disk error
 * (`StorageError`) nor an object-store refusal: the `cause` says why.
 * Nothing half-written is visible.
 */
export class CheckpointFailedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_FAILED';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(CheckpointFailedError.code, message, options);
  }
}
