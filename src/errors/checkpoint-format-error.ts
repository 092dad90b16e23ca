import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A checkpoint was written in a newer format than this code reads. It is left untouched. */
export class CheckpointFormatError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_CHECKPOINT_FORMAT';

  constructor(
    message: string,
    /** The checkpoint's id. */
    readonly checkpointId: string,
    /** The format version recorded in its manifest. */
    readonly formatVersion: number,
    /** The newest format version this code reads. */
    readonly supportedVersion: number,
    options?: TidemarkErrorOptions,
  ) {
    super(CheckpointFormatError.code, message, options);
  }
}
