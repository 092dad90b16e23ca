import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/**
 * Replaying a record after a rollback failed though it succeeded before: the
 * handler is not deterministic in the state it writes. The pipeline stops.
 */
export class NondeterministicHandlerError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_NONDETERMINISTIC_HANDLER';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(NondeterministicHandlerError.code, message, options);
  }
}
