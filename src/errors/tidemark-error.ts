import type { ErrorCode } from './codes.js';

/** Options accepted by every tidemark error. */
export interface TidemarkErrorOptions {
  /** The underlying error, when this one wraps another. */
  cause?: unknown;
}

/**
 * Base class of every error tidemark throws. Each subclass carries a stable
 * `code` that callers (and the CLI's exit codes) can switch on; messages are
 * for humans and may change between versions. Every code has its own
 * subclass (docs/ERRORS.md): throw the subclass, not this class.
 */
export class TidemarkError extends Error {
  /** Stable, machine-readable identifier of the failure kind. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: TidemarkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
