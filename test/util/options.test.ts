import { describe, expect, it } from 'vitest';
import { resolveRetry } from '../../src/checkpoint/s3-retry.js';
import { S3CheckpointStorage } from '../../src/checkpoint/s3-storage.js';
import { ConfigError } from '../../src/errors/config-error.js';
import {
  booleanOption,
  checkOptions,
  functionOption,
  intOption,
  numberOption,
  oneOfOption,
} from '../../src/util/options.js';

describe('one validation path for options', () => {
  it('checkOptions: an object with known keys only', () => {
    expect(() => checkOptions(null, 'widget', ['a'])).toThrow(new ConfigError('widget options must be an object'));
    expect(() => checkOptions('x', 'widget', ['a'])).toThrow(ConfigError);
    expect(() => checkOptions({ a: 1, b: 2 }, 'widget', ['a'])).toThrow(
      new ConfigError('unknown widget option "b"; known options: a'),
    );
    expect(() => checkOptions({ a: 1 }, 'widget', ['a'])).not.toThrow();
  });

  it('numbers: defaults, bounds, and the same words for every option', () => {
    expect(intOption('n', undefined, { min: 1, default: 7 })).toBe(7);
    expect(intOption('n', 3, { min: 1 })).toBe(3);
    expect(() => intOption('n', 0, { min: 1 })).toThrow(/^"n" must be an integer >= 1, got 0$/);
    expect(() => intOption('n', 1.5, { min: 1 })).toThrow(/"n" must be an integer >= 1, got 1.5/);
    expect(() => intOption('n', '3', { min: 1 })).toThrow(ConfigError);
    expect(() => intOption('port', undefined, { min: 0, max: 65535 })).toThrow(
      /^"port" must be an integer in 0\.\.65535, got undefined$/,
    );
    expect(() => intOption('port', 70000, { min: 0, max: 65535 })).toThrow(ConfigError);
    expect(numberOption('ms', 0.5, { min: 0 })).toBe(0.5);
    expect(() => numberOption('ms', Infinity, { min: 0, default: 1 })).toThrow(
      /^"ms" must be a finite number >= 0, got Infinity$/,
    );
    expect(() => numberOption('ms', Number.NaN, { min: 0 })).toThrow(ConfigError);
  });

  it('enums, booleans and functions', () => {
    expect(oneOfOption('mode', undefined, ['a', 'b'], 'a')).toBe('a');
    expect(() => oneOfOption('mode', 'c', ['a', 'b'], 'a')).toThrow(/^"mode" must be one of a, b, got c$/);
    expect(booleanOption('on', undefined, true)).toBe(true);
    expect(() => booleanOption('on', 'yes', true)).toThrow(/^"on" must be a boolean, got yes$/);
    const f = (): void => undefined;
    expect(functionOption('cb', f)).toBe(f);
    expect(functionOption('cb', undefined)).toBeUndefined();
    expect(() => functionOption('cb', 3 as never, 'a function returning a number')).toThrow(
      /^"cb" must be a function returning a number$/,
    );
  });

  it('S3 storage and retry options go through it (no network needed to refuse them)', () => {
    expect(() => new S3CheckpointStorage({ bucket: 'my-bucket', partBytes: 1024 })).toThrow(
      /"partBytes" must be an integer >= 5242880, got 1024/,
    );
    expect(() => new S3CheckpointStorage({ bucket: 'my-bucket', buckit: 'x' } as never)).toThrow(
      /unknown S3 storage option "buckit"/,
    );
    expect(() => new S3CheckpointStorage({ bucket: 'my-bucket', onRetry: 1 as never })).toThrow(
      /"onRetry" must be a function/,
    );
    expect(() => resolveRetry({ maxAttempts: 0 })).toThrow(/"retry.maxAttempts" must be an integer in 1\.\.100, got 0/);
    expect(() => resolveRetry({ attemptTimeoutMs: 0 })).toThrow(
      /"retry.attemptTimeoutMs" must be a finite number >= 1/,
    );
    expect(() => resolveRetry({ baseDelayMs: -1 })).toThrow(/"retry.baseDelayMs" must be a finite number >= 0/);
    expect(resolveRetry({}).maxAttempts).toBe(6);
  });
});
