// The package's public API: what README.md documents, nothing more
// (test/public-api.test.ts pins the names). Internals are imported from their
// own modules inside the package; members tagged internal stay out of the .d.ts
// (stripInternal in tsconfig.build.json).

export * from './errors/index.js';

export { StateStore, type CommitResult, type ReleaseOptions } from './state/state-store.js';
export type { StateStoreOptions } from './state/store-options.js';
export type { PartitionState } from './state/partition-state.js';
export type { ScopeView, GetOptions, PutOptions, RangeOptions, StateEntry } from './state/scope-view.js';
export type { ExpiredEntry } from './state/partition-core.js';
export type { StateKey } from './state/key-codec.js';
export type { Migration, Migrations, MigrationContext } from './state/migrations.js';
export type { PartitionStats, StoreStats } from './state/stats.js';
export type { BackendSnapshot, RawEntry } from './state/backend.js';
export type { Clock } from './util/clock.js';
export type { TopicPartition, PartitionOffset, PartitionOffsetInput } from './util/topic-partition.js';

export {
  CheckpointRepository,
  type CheckpointInfo,
  type CheckpointPartitionInfo,
  type CheckpointRepositoryOptions,
  type CheckpointStatus,
  type PruneOptions,
  type PruneResult,
  type RestoredPartition,
  type RestoreOptions,
  type RestoreResult,
  type RestoreTarget,
  type SkippedCheckpoint,
  type VerifyResult,
  type WriteOptions,
} from './checkpoint/repository.js';
export type { CheckpointCoordinatorOptions } from './checkpoint/coordinator.js';
export type { RetentionPolicy } from './checkpoint/retention.js';
export { LocalDirectoryStorage, type LocalDirectoryStorageOptions } from './checkpoint/local-storage.js';
export type {
  CheckpointStorage,
  ObjectWriter,
  ReadChunksOptions,
  ReadOptions,
  StoredObject,
} from './checkpoint/storage.js';
export type {
  CheckpointObserver,
  CheckpointTrigger,
  CheckpointCompletedEvent,
  CheckpointFailedEvent,
  CorruptCheckpointEvent,
  RestoreEvent,
  RetentionEvent,
} from './checkpoint/observer.js';
export { S3CheckpointStorage, type S3CheckpointStorageOptions } from './checkpoint/s3-storage.js';
export type { S3RetryOptions, S3RetryEvent } from './checkpoint/s3-retry.js';
export { isS3Url, s3StorageFromUrl } from './checkpoint/s3-url.js';

export { Pipeline } from './pipeline/pipeline.js';
export type {
  PipelineOptions,
  PipelineMessage,
  RecordContext,
  RecordHandler,
  ErrorPolicy,
  PipelineCheckpoints,
} from './pipeline/pipeline-options.js';
export type {
  Source,
  SourceListener,
  SourceRecord,
  SourceBatch,
  BatchControl,
  HeaderValue,
} from './pipeline/source.js';
export type {
  PipelineObserver,
  RecoveryReport,
  RecoverySource,
  OffsetGap,
  StalledPartition,
} from './pipeline/observer.js';
export { InProcessLog, type LogRecordInput } from './pipeline/in-process-log.js';
export { InProcessSource, type InProcessSourceOptions } from './pipeline/in-process-source.js';

export { KafkaSource, type KafkaSourceOptions } from './kafka/kafka-source.js';
export {
  PlatformaticSource,
  type PlatformaticConsumerOptions,
  type PlatformaticProtocol,
  type PlatformaticSourceOptions,
} from './kafka/platformatic-source.js';

export {
  TidemarkMetrics,
  type TidemarkMetricsOptions,
  type DefaultMetricsOptions,
  type InstrumentOptions,
  type ServeOptions,
} from './metrics/tidemark-metrics.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics/metrics-server.js';
export type { Probe, ProbeResult } from './metrics/probe.js';
