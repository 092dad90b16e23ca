import { promises as fsp, constants as fsc } from 'node:fs';
import * as fs from 'node:fs';

/** Mode for every directory tidemark creates: owner only. */
export const DIR_MODE = 0o700;
/** Mode for every file tidemark creates: owner read/write only. */
export const FILE_MODE = 0o600;

/** Creates `dir` (and parents) and forces it to 0700 regardless of umask. */
export function ensurePrivateDirSync(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  fs.chmodSync(dir, DIR_MODE);
}

/** Async form of {@link ensurePrivateDirSync}. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
  await fsp.chmod(dir, DIR_MODE);
}

/** fsyncs a directory so that renames and creations inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True when `err` is a Node system error with the given code. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
