import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import { tmpDir } from './helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);

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

  // The .d.ts the build publishes, compiled by a consumer with skipLibCheck
  // off: stripInternal can leave a declaration that no longer type-checks
  // (an implements clause naming stripped members), or strip a whole class.
  it('the published .d.ts hides internals and type-checks in a strict consumer', async () => {
    const dir = tmpDir('api-dts');
    await run(
      process.execPath,
      [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--emitDeclarationOnly', '--outDir', path.join(dir, 'dist')],
      { cwd: root },
    );
    const scope = fs.readFileSync(path.join(dir, 'dist/state/scope-view.d.ts'), 'utf8');
    expect(scope).toMatch(/export declare class ScopeView/);
    expect(scope).toMatch(/\bput\(key: StateKey/);
    for (const internal of ['core', 'codec', 'unindex', 'expireIfDue', 'expireCached'])
      expect(scope, internal).not.toMatch(new RegExp(`\\b${internal}\\b[(:]`));
    const partition = fs.readFileSync(path.join(dir, 'dist/state/partition-state.d.ts'), 'utf8');
    expect(partition).not.toMatch(/\bviews\b/);
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    fs.writeFileSync(
      path.join(dir, 'use.ts'),
      [
        "import * as tidemark from './dist/index.js';",
        "import type { PartitionState, RecordHandler, ErrorCode } from './dist/index.js';",
        "const handler: RecordHandler = (m, state: PartitionState) => { state.scope('s').put('k', m.offset); };",
        "const code: ErrorCode = 'ERR_TIDEMARK_INVALID_VALUE';",
        'export { tidemark, handler, code };',
        '',
      ].join('\n'),
    );
    const args = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'NodeNext'];
    args.push('--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', path.join(dir, 'use.ts'));
    const out = await run(process.execPath, [tsc, ...args], { cwd: dir }).catch((e: { stdout: string }) => e);
    expect(out.stdout).toBe('');
  }, 240_000);
});
