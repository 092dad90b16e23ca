import { topicPartitionKey } from '../util/topic-partition.js';
import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** A partition with uncommitted changes was released without `{ discard: true }`. Nothing was released. */
export class UncommittedChangesError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_UNCOMMITTED';

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** How many changes are uncommitted. */
    readonly changes: number,
  ) {
    super(
      UncommittedChangesError.code,
      `partition ${topicPartitionKey(topic, partition)} has ${changes} uncommitted change(s); commit first or pass { discard: true }`,
    );
  }
}
