import type { ErrorCode } from './codes.js';
import { TidemarkError, type TidemarkErrorOptions } from './tidemark-error.js';

/** A pipeline was asked to do something its lifecycle does not allow now (e.g. `start()` twice). */
export class PipelineStateError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_PIPELINE_STATE';

  constructor(message: string, options?: TidemarkErrorOptions) {
    super(PipelineStateError.code, message, options);
  }
}
