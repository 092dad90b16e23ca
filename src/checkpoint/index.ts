export {
  CheckpointRepository,
  QUARANTINE_NOTE,
  QUARANTINE_PREFIX,
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
} from './repository.js';
export { CheckpointCoordinator, type CheckpointCoordinatorOptions, type CheckpointRequest } from './coordinator.js';
export { LocalDirectoryStorage, type LocalDirectoryStorageOptions, type PublishStep } from './local-storage.js';
export type { CheckpointStorage, ObjectWriter, ReadChunksOptions, ReadOptions, StoredObject } from './storage.js';
export { ForwardingStorage } from './forwarding-storage.js';
export {
  planRetention,
  resolveRetention,
  type RetentionPolicy,
  type RetentionPlan,
  type RetentionCandidate,
  type ResolvedRetention,
} from './retention.js';
export { READERS_PREFIX } from './readers.js';
export type {
  CheckpointObserver,
  CheckpointTrigger,
  CheckpointCompletedEvent,
  CheckpointFailedEvent,
  CorruptCheckpointEvent,
  RestoreEvent,
  RestoreProgressEvent,
  RetentionEvent,
} from './observer.js';
export { FORMAT_VERSION as CHECKPOINT_FORMAT_VERSION, type Manifest, type ManifestPartition } from './manifest.js';
export { isCheckpointId, checkpointTime } from './checkpoint-id.js';
export { keyFingerprint } from './encryption.js';
export {
  S3CheckpointStorage,
  isLocalEndpoint,
  DEFAULT_PART_BYTES,
  MIN_PART_BYTES,
  type S3CheckpointStorageOptions,
} from './s3-storage.js';
export type { S3RetryOptions, S3RetryEvent } from './s3-retry.js';
export { isS3Url, parseS3Url, s3StorageFromUrl } from './s3-url.js';
