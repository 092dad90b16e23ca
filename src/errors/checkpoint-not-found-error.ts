import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** No checkpoint (or no partition of it) exists under the id asked for. */
export class CheckpointNotFoundError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_NOT_FOUND';

  constructor(
    message: string,
    /** The id asked for. */
    readonly checkpointId: string,
    options?: TidemarkErrorOptions,
  ) {
    super(CheckpointNotFoundError.code, message, options);
  }
}
