import { topicPartitionKey } from '../util/topic-partition.js';
import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** A `PartitionState` was used after its partition was released from the store: call `store.partition()` again. */
export class PartitionReleasedError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_PARTITION_RELEASED';

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    super(
      PartitionReleasedError.code,
      `partition ${topicPartitionKey(topic, partition)} was released from this store; call store.partition() again`,
    );
  }
}
