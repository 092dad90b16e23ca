import { topicPartitionKey } from '../util/topic-partition.js';
import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/**
 * A partition's state is at an offset the log no longer holds: the records
 * from `offset` up to `logStart` were deleted (retention, `deleteRecords`)
 * before they were processed, so the state cannot be exact any more. The
 * pipeline fails with it unless `onGap: 'accept'`.
 */
export class OffsetGapError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_OFFSET_GAP';

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The state's next offset. */
    readonly offset: string,
    /** The first offset still in the log. */
    readonly logStart: string,
  ) {
    super(
      OffsetGapError.code,
      `${topicPartitionKey(topic, partition)}: the state is at offset ${offset} but the log starts at ${logStart}: ` +
        `${BigInt(logStart) - BigInt(offset)} record(s) were deleted before they were processed, so the state cannot be exact; ` +
        `restore a checkpoint at or after ${logStart}, or start with the pipeline option onGap: 'accept' to resume at ${logStart} without them`,
    );
  }
}
