import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateLockedError, StateStore } from '../../src/index.js';
import { LMDB_FILE } from '../../src/state/lmdb-backend.js';
import { LOCK_FILE } from '../../src/state/dir-lock.js';
import { killHard, runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';

describe('one owner per state directory', () => {
  it('refuses a second open from this process, naming our pid', async () => {
    const dir = path.join(tmpDir('own'), 'state');
    const store = await StateStore.open({ path: dir });
    const err = await StateStore.open({ path: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateLockedError);
    expect((err as StateLockedError).holderPid).toBe(process.pid);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    await store.close();
    // once closed, it opens again
    const again = await StateStore.open({ path: dir });
    await again.close();
  });

  it('refuses an open while another process holds the directory, naming its pid', async () => {
    const dir = path.join(tmpDir('own'), 'state');
    const holder = runTs('test/fixtures/store-holder.ts', [dir]);
    const [, pid] = await holder.waitFor(/^OPEN (\d+)$/);
    const err = await StateStore.open({ path: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateLockedError);
    expect((err as StateLockedError).holderPid).toBe(Number(pid));
    expect((err as Error).message).toContain(`locked by pid ${pid}`);
    expect((err as StateLockedError).code).toBe('ERR_TIDEMARK_STATE_LOCKED');
    // a graceful holder releases the lock on close
    holder.proc.stdin!.end();
    await holder.waitFor(/^CLOSED$/);
    await holder.exited;
    const store = await StateStore.open({ path: dir });
    await store.close();
  });

  it('takes over a stale lock left by a process killed with SIGKILL', async () => {
    const dir = path.join(tmpDir('own'), 'state');
    const holder = runTs('test/fixtures/store-holder.ts', [dir]);
    const [, pid] = await holder.waitFor(/^OPEN (\d+)$/);
    await killHard(holder);
    const lock = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(Number(pid)); // the dead holder's lock is still there
    const store = await StateStore.open({ path: dir });
    const taken = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(taken.pid).toBe(process.pid);
    await store.close();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over a torn (empty) lock file and refuses a live lock from another host', async () => {
    const dir = path.join(tmpDir('own'), 'state');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, LOCK_FILE), '');
    const store = await StateStore.open({ path: dir });
    await store.close();
    fs.writeFileSync(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: 1234, host: `not-${os.hostname()}`, since: 'x' }),
    );
    await expect(StateStore.open({ path: dir })).rejects.toThrow(/pid 1234 on not-/);
  });

  it('creates the directory 0700 and every file 0600, whatever the umask', async () => {
    const dir = path.join(tmpDir('own'), 'nested', 'state');
    const old = process.umask(0o000);
    try {
      const store = await StateStore.open({ path: dir });
      store.partition('t', 0).put('k', 1);
      await store.commit([{ topic: 't', partition: 0, offset: 1 }]);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      const files = fs.readdirSync(dir);
      expect(files).toEqual(expect.arrayContaining([LMDB_FILE, `${LMDB_FILE}-lock`, LOCK_FILE]));
      for (const f of files) expect((fs.statSync(path.join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
      await store.close();
    } finally {
      process.umask(old);
    }
  });
});
