import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** A write was attempted on a store opened with `readOnly: true`. */
export class StoreReadOnlyError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_STORE_READ_ONLY';

  constructor(what: string) {
    super(StoreReadOnlyError.code, `cannot ${what}: the state store was opened read-only`);
  }
}
