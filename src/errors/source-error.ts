import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A source broke its contract with the pipeline (e.g. gave no log start offset for an assigned partition). */
export class SourceError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_SOURCE';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(SourceError.code, message, options);
  }
}
