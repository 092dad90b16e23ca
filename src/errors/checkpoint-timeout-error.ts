import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A checkpoint took longer than its timeout; it was abandoned and nothing of it is visible. */
export class CheckpointTimeoutError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_TIMEOUT';

  constructor(
    message: string,
    /** The timeout that expired, in ms. */
    readonly timeoutMs: number,
    options?: TidemarkErrorOptions,
  ) {
    super(CheckpointTimeoutError.code, message, options);
  }
}
