export { Pipeline } from './pipeline.js';
export type {
  PipelineOptions,
  PipelineMessage,
  RecordContext,
  RecordHandler,
  ErrorPolicy,
  PipelineCheckpoints,
} from './pipeline-options.js';
export type { Source, SourceListener, SourceRecord, SourceBatch, BatchControl, HeaderValue } from './source.js';
export type { PipelineObserver, RecoveryReport, RecoverySource, OffsetGap, StalledPartition } from './observer.js';
export { InProcessLog, type LogRecordInput } from './in-process-log.js';
export { InProcessSource, type InProcessSourceOptions } from './in-process-source.js';
