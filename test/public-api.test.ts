import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

// The package's entry point exports what README.md documents, nothing more.
// A name added here needs its README mention; an internal that leaks into
// src/index.ts fails the first test.
const PUBLIC_VALUES = [
  // state
  'StateStore',
  // checkpoints
  'CheckpointRepository',
  'LocalDirectoryStorage',
  'S3CheckpointStorage',
  's3StorageFromUrl',
  'isS3Url',
  // pipeline and sources
  'Pipeline',
  'InProcessSource',
  'InProcessLog',
  'KafkaSource',
  // metrics
  'TidemarkMetrics',
  'startMetricsServer',
  // errors (docs/ERRORS.md)
  'ERROR_CODES',
  'TidemarkError',
  'InvalidArgumentError',
  'InvalidKeyError',
  'InvalidValueError',
  'ConfigError',
  'EncryptionKeyError',
  'UnsupportedError',
  'StateLockedError',
  'SchemaVersionError',
  'MigrationError',
  'StoreClosedError',
  'StoreReadOnlyError',
  'PartitionReleasedError',
  'UncommittedChangesError',
  'StorageError',
  'ObjectStorageError',
  'CheckpointCorruptError',
  'CheckpointFormatError',
  'CheckpointKeyError',
  'CheckpointNotFoundError',
  'CheckpointTimeoutError',
  'CheckpointFailedError',
  'PipelineStateError',
  'HandlerFailedError',
  'NondeterministicHandlerError',
  'SourceError',
  'OffsetGapError',
  'TopicNotFoundError',
];

describe('the public API', () => {
  it('exports exactly the documented names', () => {
    expect(Object.keys(api).sort()).toEqual([...PUBLIC_VALUES].sort());
  });

  it('README mentions each exported name', () => {
    const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of PUBLIC_VALUES) expect(readme, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('the build keeps members tagged @internal out of the published .d.ts', () => {
    const build = JSON.parse(fs.readFileSync(new URL('../tsconfig.build.json', import.meta.url), 'utf8'));
    expect(build.compilerOptions.stripInternal).toBe(true);
  });
});
