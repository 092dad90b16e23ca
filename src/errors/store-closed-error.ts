import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** An operation was attempted on a closed store. */
export class StoreClosedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_STORE_CLOSED';

  constructor(message = 'the state store is closed') {
    super(StoreClosedError.code, message);
  }
}
