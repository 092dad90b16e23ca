import { OffsetGapError } from '../errors/offset-gap-error.js';
import { SourceError } from '../errors/source-error.js';
import { formatTopicPartition, type TopicPartition } from '../util/topic-partition.js';
import type { OffsetGap } from './observer.js';
import type { PartitionProgress } from './progress.js';
import type { Source } from './source.js';

/** Each partition's log start offset, keyed `topic:partition`; a partition the source gave none for is an error. */
export async function logStarts(source: Source, tps: readonly TopicPartition[]): Promise<Map<string, bigint>> {
  const got = await source.logStartOffsets(tps);
  const out = new Map(got.map((o) => [formatTopicPartition(o), BigInt(o.offset)]));
  for (const tp of tps) {
    if (!out.has(formatTopicPartition(tp)))
      throw new SourceError(`the source gave no log start offset for ${formatTopicPartition(tp)}`);
  }
  return out;
}

/**
 * A partition's state is below its log's start (records deleted before they
 * were processed). Throws OffsetGapError unless gaps are accepted; then the
 * partition resumes at the log start and the gap is returned, for observers.
 */
export function acceptGap(p: PartitionProgress, logStart: bigint, onGap: 'fail' | 'accept'): OffsetGap {
  const offset = p.next!;
  if (onGap !== 'accept') throw new OffsetGapError(p.tp.topic, p.tp.partition, String(offset), String(logStart));
  p.next = logStart;
  return {
    topic: p.tp.topic,
    partition: p.tp.partition,
    offset: String(offset),
    logStart: String(logStart),
    records: Number(logStart - offset),
  };
}
