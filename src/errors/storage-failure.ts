import { StorageError } from './storage-error.js';

// LMDB reports errno values as numbers; Node as names.
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  5: 'EIO',
  12: 'ENOMEM',
  13: 'EACCES',
  28: 'ENOSPC',
  30: 'EROFS',
  122: 'EDQUOT',
};

// What an operator should look at first. LMDB on a full disk often reports
// EIO (a failed msync or fsync), not ENOSPC.
const HINTS: Readonly<Record<string, string>> = {
  ENOSPC: ' (the disk is full)',
  EDQUOT: ' (the disk quota is used up)',
  EIO: ' (an I/O error: is the disk full, or failing?)',
  EROFS: ' (the filesystem is read-only)',
};

/** The system error code of `err`: Node's name (`ENOSPC`), or LMDB's errno number by name; undefined if none. */
export function syscallCodeOf(err: unknown): string | undefined {
  const raw = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number') return ERRNO_NAMES[raw] ?? `errno ${raw}`;
  return undefined;
}

/**
 * The one wrapper of a disk failure, for state and checkpoints alike: a
 * {@link StorageError} whose message is `message: <the cause's message>` plus
 * a hint for the common codes, carrying the code and the cause.
 */
export function storageFailure(message: string, err: unknown): StorageError {
  const code = syscallCodeOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  const hint = code === undefined ? '' : (HINTS[code] ?? '');
  return new StorageError(`${message}: ${detail}${hint}`, code, { cause: err });
}
