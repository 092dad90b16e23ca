import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateLockedError } from '../errors/state-locked-error.js';
import { FILE_MODE, isErrno } from '../util/fs.js';

/** Name of the lock file inside a state directory. */
export const LOCK_FILE = 'tidemark.lock';

interface LockRecord {
  pid: number;
  host: string;
  since: string;
}

// Directories this process holds, so a second open from the same process is
// refused even though the pid in the file is alive (it is ours).
const heldByThisProcess = new Set<string>();

/**
 * An exclusive, process-level lock on a state directory: a file holding the
 * owner's pid and host. LMDB itself allows many processes on one environment,
 * so this is what enforces "one owner per directory". A lock whose pid is
 * dead (on this host) is stale and is taken over.
 */
export class DirLock {
  private released = false;

  private constructor(
    /** Absolute path of the locked directory. */
    readonly dir: string,
    private readonly file: string,
  ) {}

  /**
   * Takes the lock on `dir` or throws {@link StateLockedError} naming the holder.
   * The directory must exist.
   */
  static acquire(dir: string): DirLock {
    const real = fs.realpathSync(dir);
    const file = path.join(real, LOCK_FILE);
    if (heldByThisProcess.has(real)) {
      throw new StateLockedError(
        `state directory ${real} is already open in this process (pid ${process.pid}); close the other StateStore first`,
        process.pid,
        os.hostname(),
      );
    }
    const mine: LockRecord = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
    // Bounded retries: each round either creates the lock, finds a live holder
    // (throws), or removes one stale lock; a racing opener can cost us a round.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
        try {
          fs.writeSync(fd, JSON.stringify(mine));
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        heldByThisProcess.add(real);
        return new DirLock(real, file);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      const holder = readLock(file);
      if (holder === 'missing') continue;
      if (holder !== 'unreadable' && isLive(holder)) {
        throw new StateLockedError(
          `state directory ${real} is locked by pid ${holder.pid} on ${holder.host} (since ${holder.since}); ` +
            `stop that process first, or remove ${file} if you are sure it is gone`,
          holder.pid,
          holder.host,
        );
      }
      takeOverStale(file, holder);
    }
    throw new StateLockedError(`could not take the lock on ${real}: other processes keep racing for it`, 0, '');
  }

  /** Releases the lock; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    heldByThisProcess.delete(this.dir);
    try {
      const holder = readLock(this.file);
      if (holder !== 'missing' && holder !== 'unreadable' && holder.pid === process.pid) fs.unlinkSync(this.file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
}

function readLock(file: string): LockRecord | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'missing';
    throw err;
  }
  try {
    const rec = JSON.parse(text) as Partial<LockRecord>;
    if (typeof rec.pid === 'number' && typeof rec.host === 'string') {
      return { pid: rec.pid, host: rec.host, since: String(rec.since ?? 'unknown') };
    }
  } catch {
    // A crash between creating and writing the file leaves it empty or torn.
  }
  return 'unreadable';
}

function isLive(holder: LockRecord): boolean {
  // A lock from another host cannot be checked: treat it as held.
  if (holder.host !== os.hostname()) return true;
  // Our own pid but not in our set: a previous incarnation with a recycled pid
  // (pid 1 in every container start, for instance). Stale.
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

// Moves the stale lock aside atomically, then checks that what we moved was
// the stale one and not a lock a racing process just created; if it was a
// fresh lock, put it back.
function takeOverStale(file: string, seen: LockRecord | 'unreadable'): void {
  const aside = `${file}.stale-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  const moved = readLock(aside);
  const same =
    moved === 'unreadable'
      ? seen === 'unreadable'
      : moved !== 'missing' && seen !== 'unreadable' && moved.pid === seen.pid && moved.since === seen.since;
  if (same || moved === 'missing') {
    fs.rmSync(aside, { force: true });
    return;
  }
  try {
    fs.linkSync(aside, file);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  fs.rmSync(aside, { force: true });
}
