import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** The stored data was written by a newer schema, or no migration path exists. */
export class SchemaVersionError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_SCHEMA_VERSION';

  constructor(
    message: string,
    /** Schema version recorded in the store. */
    readonly storedVersion: number,
    /** Schema version the caller asked for. */
    readonly expectedVersion: number,
    options?: TidemarkErrorOptions,
  ) {
    super(SchemaVersionError.code, message, options);
  }
}
