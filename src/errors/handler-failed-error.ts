import { formatTopicPartition } from '../util/topic-partition.js';
// A type-only import: the record's shape. No runtime dependency on the pipeline.
import type { SourceRecord } from '../pipeline/source.js';
import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** A record's handler kept failing and the error policy is 'fail'. */
export class HandlerFailedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_HANDLER_FAILED';

  constructor(
    /** The record the handler failed on; state is committed up to the record before it. */
    readonly record: SourceRecord,
    attempts: number,
    cause: unknown,
  ) {
    super(
      HandlerFailedError.code,
      `handler failed ${attempts} time(s) on ${formatTopicPartition(record)} offset ${record.offset}: ` +
        `${(cause as Error)?.message ?? String(cause)}; state is committed up to the record before it`,
      { cause },
    );
  }
}
