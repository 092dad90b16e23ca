import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { isErrno } from '../util/fs.js';
import type { CheckpointStorage } from './storage.js';

/** Prefix of reader markers: `readers/<checkpoint id>/<host>~<pid>~<nonce>`. */
export const READERS_PREFIX = 'readers/';

// Identifies this process's markers even if its pid is reused later.
const PROCESS_NONCE = randomBytes(6).toString('hex');
const HOST = os.hostname();
const SAFE_HOST = HOST.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200) || 'host';

/**
 * Tracks which checkpoints are being read, so retention never deletes them:
 * a reference count within this process, plus a marker object per reading
 * process in the checkpoint storage that other processes respect. A marker
 * is live while its process is alive (same host) or while it was refreshed
 * within `ttlMs` (another host); dead ones are removed by whoever finds them.
 */
export class ReaderRegistry {
  private readonly counts = new Map<string, number>();
  private readonly markers = new Map<string, string>();
  private refresh: NodeJS.Timeout | undefined;

  constructor(
    private readonly storage: CheckpointStorage,
    private readonly ttlMs: number,
  ) {}

  /** Marks `id` as being read until the returned function is called. */
  async acquire(id: string): Promise<() => Promise<void>> {
    const n = this.counts.get(id) ?? 0;
    this.counts.set(id, n + 1);
    if (n === 0) {
      const key = `${READERS_PREFIX}${id}/${SAFE_HOST}~${process.pid}~${PROCESS_NONCE}`;
      this.markers.set(id, key);
      this.startRefresh();
      try {
        await writeMarker(this.storage, key);
      } catch (err) {
        // Reading must work on a full or read-only disk; only other
        // processes' retention loses sight of this reader (it then sees the
        // checkpoint vanish and falls back, never reads a mix).
        process.emitWarning(`tidemark: could not write reader marker ${key}: ${(err as Error).message}`);
      }
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await this.release(id);
    };
  }

  /** Ids of checkpoints being read by this process or, per their markers, by another live one. */
  async inUse(nowMs: number, options: { removeDead?: boolean } = {}): Promise<Set<string>> {
    const removeDead = options.removeDead ?? true;
    const busy = new Set<string>([...this.counts.keys()]);
    for (const o of await this.storage.list(READERS_PREFIX)) {
      const [, id, name] = o.key.split('/');
      if (id === undefined || name === undefined) continue;
      const [host, pidText, nonce] = name.split('~');
      const pid = Number(pidText);
      let live: boolean;
      if (nonce === PROCESS_NONCE) live = this.counts.has(id);
      else if (host === SAFE_HOST) live = isAlive(pid);
      else live = nowMs - o.modifiedAt < this.ttlMs;
      if (live) busy.add(id);
      else if (removeDead) await this.storage.remove(o.key).catch(() => undefined);
    }
    return busy;
  }

  /** Stops refreshing markers (they are removed as their reads end). */
  close(): void {
    if (this.refresh !== undefined) clearInterval(this.refresh);
    this.refresh = undefined;
  }

  private async release(id: string): Promise<void> {
    const n = (this.counts.get(id) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(id, n);
      return;
    }
    this.counts.delete(id);
    const key = this.markers.get(id);
    this.markers.delete(id);
    if (this.markers.size === 0) this.close();
    if (key !== undefined) await this.storage.remove(key).catch(() => undefined);
  }

  private startRefresh(): void {
    if (this.refresh !== undefined) return;
    this.refresh = setInterval(
      () => {
        for (const key of this.markers.values()) writeMarker(this.storage, key).catch(() => undefined);
      },
      Math.max(1000, Math.floor(this.ttlMs / 3)),
    );
    this.refresh.unref();
  }
}

async function writeMarker(storage: CheckpointStorage, key: string): Promise<void> {
  const w = await storage.create(key);
  try {
    await w.write(Buffer.from(JSON.stringify({ host: HOST, pid: process.pid, since: new Date().toISOString() })));
    await w.commit();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
