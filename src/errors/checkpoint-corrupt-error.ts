import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * A checkpoint failed verification: a checksum mismatch, a truncated, missing
 * or undecodable segment, an unparsable manifest, a segment that inflates past
 * its recorded size. Nothing of it was loaded.
 */
export class CheckpointCorruptError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_CORRUPT';

  constructor(
    message: string,
    /** The checkpoint's id. */
    readonly checkpointId: string,
    /** What failed, in a few words (also part of the message). */
    readonly reason: string,
    options?: TidemarkErrorOptions,
  ) {
    super(CheckpointCorruptError.code, message, options);
  }
}
