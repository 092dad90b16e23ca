import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** Another live process (or this one) already holds the state directory. */
export class StateLockedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_STATE_LOCKED';

  constructor(
    message: string,
    /** Process id recorded by the holder. */
    readonly holderPid: number,
    /** Host name recorded by the holder. */
    readonly holderHost: string,
    options?: TidemarkErrorOptions,
  ) {
    super(StateLockedError.code, message, options);
  }
}
