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
  /** The kernel's boot id (/proc/sys/kernel/random/boot_id) when taken. */
  bootId?: string;
  /** The holder's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  startTime?: number;
}

/** Options for {@link DirLock.acquire}. */
export interface DirLockOptions {
  /** How often the holder touches the lock file (its heartbeat). Default 10 s. */
  refreshMs?: number;
  /** A lock from another host name not touched for this long is stale. Default 60 s. */
  staleMs?: number;
}

/** Default heartbeat of a held lock. */
export const LOCK_REFRESH_MS = 10_000;
/** Default age after which another host's lock counts as abandoned. */
export const LOCK_STALE_MS = 60_000;

// Directories this process holds, so a second open from the same process is
// refused even though the pid in the file is alive (it is ours).
const heldByThisProcess = new Set<string>();

/**
 * An exclusive, process-level lock on a state directory: a file holding the
 * owner's pid, host name, boot id and process start time, touched every
 * `refreshMs` while held. LMDB itself allows many processes on one
 * environment, so this is what enforces "one owner per directory".
 *
 * The rule for a lock found in place:
 * - same host name, other boot id: left by an earlier boot; stale.
 * - same host name and boot: live while its pid runs and, when recorded,
 *   that process started when the lock says (a reused pid is not the holder).
 *   Our own pid outside this process's set (pid 1 of a restarted container):
 *   stale.
 * - another host name (another machine, or a container since recreated with
 *   a new name, whose pid this process cannot see): live while its file was
 *   touched within `staleMs`; the holder touches it every `refreshMs`.
 */
export class DirLock {
  private released = false;
  private refresher: NodeJS.Timeout | undefined;

  private constructor(
    /** Absolute path of the locked directory. */
    readonly dir: string,
    private readonly file: string,
    private readonly mine: LockRecord,
    refreshMs: number,
  ) {
    this.refresher = setInterval(() => this.refresh(), refreshMs);
    this.refresher.unref();
  }

  /**
   * Takes the lock on `dir` or throws {@link StateLockedError} naming the holder.
   * The directory must exist.
   */
  static acquire(dir: string, options: DirLockOptions = {}): DirLock {
    const refreshMs = options.refreshMs ?? LOCK_REFRESH_MS;
    const staleMs = options.staleMs ?? LOCK_STALE_MS;
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
    const bootId = readBootId();
    const startTime = processStartTime(process.pid);
    if (bootId !== undefined) mine.bootId = bootId;
    if (startTime !== undefined) mine.startTime = startTime;
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
        return new DirLock(real, file, mine, refreshMs);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
      const holder = readLock(file);
      if (holder === 'missing') continue;
      if (holder !== 'unreadable' && isLive(holder, file, staleMs)) {
        const foreign = holder.host !== os.hostname();
        const age = foreign ? ageMs(file) : undefined;
        throw new StateLockedError(
          `state directory ${real} is locked by pid ${holder.pid} on ${holder.host} (since ${holder.since}` +
            (age === undefined ? '' : `, refreshed ${Math.round(age / 1000)} s ago`) +
            '); stop that process first' +
            (foreign
              ? `; a lock from another host is taken over once not refreshed for ${Math.round(staleMs / 1000)} s`
              : '') +
            `, or remove ${file} if you are sure it is gone`,
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
    clearInterval(this.refresher);
    heldByThisProcess.delete(this.dir);
    try {
      const holder = readLock(this.file);
      if (holder !== 'missing' && holder !== 'unreadable' && holder.pid === process.pid) fs.unlinkSync(this.file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  // The heartbeat: touches the file while it is still ours (a lock taken over
  // meanwhile is left alone, and no longer refreshed).
  private refresh(): void {
    try {
      const holder = readLock(this.file);
      if (holder === 'unreadable') return; // being rewritten: look again next time
      if (holder === 'missing' || holder.pid !== this.mine.pid || holder.since !== this.mine.since) {
        clearInterval(this.refresher);
        process.emitWarning(
          `tidemark: the lock on ${this.dir} is no longer this process's; it was taken over or removed`,
        );
        return;
      }
      const now = new Date();
      fs.utimesSync(this.file, now, now);
    } catch (err) {
      process.emitWarning(`tidemark: could not refresh the lock on ${this.dir}: ${(err as Error).message}`);
    }
  }
}

function readBootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined; // not Linux, or no /proc
  }
}

// Start time of a process in clock ticks since boot: field 22 of
// /proc/<pid>/stat, counted after the command name (which may hold spaces).
function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function ageMs(file: string): number | undefined {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
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
      const out: LockRecord = { pid: rec.pid, host: rec.host, since: String(rec.since ?? 'unknown') };
      if (typeof rec.bootId === 'string') out.bootId = rec.bootId;
      if (typeof rec.startTime === 'number') out.startTime = rec.startTime;
      return out;
    }
  } catch {
    // A crash between creating and writing the file leaves it empty or torn.
  }
  return 'unreadable';
}

function isLive(holder: LockRecord, file: string, staleMs: number): boolean {
  if (holder.host !== os.hostname()) {
    // Its pid is not ours to check (another machine, or another container's
    // pid namespace): live while its holder keeps touching the file.
    const age = ageMs(file);
    return age === undefined || age < staleMs;
  }
  const bootId = readBootId();
  if (holder.bootId !== undefined && bootId !== undefined && holder.bootId !== bootId) return false; // an earlier boot
  // Our own pid but not in our set: a previous incarnation with a recycled pid
  // (pid 1 in every container start, for instance). Stale.
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if (!isErrno(err, 'EPERM')) return false;
  }
  // The pid runs: the holder only if it started when the lock says.
  if (holder.startTime === undefined) return true;
  const started = processStartTime(holder.pid);
  return started === undefined || started === holder.startTime;
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
