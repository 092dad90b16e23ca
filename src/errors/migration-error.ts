import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A migration function threw; the store was left at its old version. */
export class MigrationError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_MIGRATION';

  constructor(
    message: string,
    /** The version the failing migration started from. */
    readonly fromVersion: number,
    options?: TidemarkErrorOptions,
  ) {
    super(MigrationError.code, message, options);
  }
}
