import type { ErrorCode } from './codes.js';
import { TidemarkError } from './tidemark-error.js';

/** A topic the source reads did not exist within the time it was given to appear. */
export class TopicNotFoundError extends TidemarkError {
  static readonly code: ErrorCode = 'ERR_TIDEMARK_TOPIC_NOT_FOUND';

  constructor(
    readonly topics: readonly string[],
    waitedMs: number,
  ) {
    super(
      TopicNotFoundError.code,
      `topic(s) ${topics.join(', ')} did not exist after waiting ${Math.round(waitedMs / 1000)} s: create them, or check the name (option topicWaitMs bounds the wait)`,
    );
  }
}
