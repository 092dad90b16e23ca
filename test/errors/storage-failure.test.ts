import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors/storage-error.js';
import { storageFailure, syscallCodeOf } from '../../src/errors/storage-failure.js';

describe('storageFailure: the one wrapper of disk errors', () => {
  it('names Node and LMDB codes alike, with the same hints', () => {
    const node = Object.assign(new Error('write failed'), { code: 'ENOSPC' });
    const lmdb = Object.assign(new Error('MDB_PANIC'), { code: 28 });
    for (const err of [node, lmdb]) {
      const e = storageFailure('commit failed', err);
      expect(e).toBeInstanceOf(StorageError);
      expect(e.syscallCode).toBe('ENOSPC');
      expect(e.message).toMatch(/^commit failed: .+ \(the disk is full\)$/);
      expect(e.cause).toBe(err);
    }
    expect(storageFailure('x', { code: 5 }).message).toContain('(an I/O error: is the disk full, or failing?)');
  });

  it('an unknown or missing code gives no hint', () => {
    expect(syscallCodeOf({ code: 99999 })).toBe('errno 99999');
    expect(storageFailure('x', Object.assign(new Error('odd'), { code: 'EBUSY' })).message).toBe('x: odd');
    const none = storageFailure('x', new Error('no code'));
    expect(none.syscallCode).toBeUndefined();
    expect(none.message).toBe('x: no code');
    expect(syscallCodeOf(undefined)).toBeUndefined();
  });
});
