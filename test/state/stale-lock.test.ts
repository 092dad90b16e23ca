import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StateLockedError, StateStore } from '../../src/index.js';
import { LOCK_FILE } from '../../src/state/dir-lock.js';
import { killHard, runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';

const BOOT_ID = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

// Process start time in clock ticks since boot: field 22 of /proc/<pid>/stat.
function startTime(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

// A real live process that is not a tidemark holder.
async function liveProcess(): Promise<number> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid!;
}

function writeLock(dir: string, record: Record<string, unknown>, ageMs = 0): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  // Atomically, as a holder refreshing it may read it at any moment.
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ since: new Date().toISOString(), ...record }));
  fs.renameSync(`${file}.tmp`, file);
  const at = new Date(Date.now() - ageMs);
  fs.utimesSync(file, at, at);
}

async function opens(dir: string): Promise<boolean> {
  try {
    const store = await StateStore.open({ path: dir });
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await store.close();
    return true;
  } catch (err) {
    if (err instanceof StateLockedError) return false;
    throw err;
  }
}

describe('a stale lock is taken over, a live one never', () => {
  it('takes over a lock whose pid now belongs to another process (pid reused), never the process it names', async () => {
    const dir = path.join(tmpDir('lock'), 'state');
    const pid = await liveProcess();
    writeLock(dir, { pid, host: os.hostname(), bootId: BOOT_ID, startTime: startTime(pid) + 1000 });
    expect(await opens(dir)).toBe(true);
    writeLock(dir, { pid, host: os.hostname(), bootId: BOOT_ID, startTime: startTime(pid) });
    expect(await opens(dir)).toBe(false);
  });

  it('takes over a lock from an earlier boot of this host, even if its pid is alive now', async () => {
    const dir = path.join(tmpDir('lock'), 'state');
    const pid = await liveProcess();
    writeLock(dir, {
      pid,
      host: os.hostname(),
      bootId: '00000000-0000-0000-0000-000000000000',
      startTime: startTime(pid),
    });
    expect(await opens(dir)).toBe(true);
  });

  it('takes over a lock from another host name (a recreated container) once it has not been refreshed for a minute', async () => {
    const dir = path.join(tmpDir('lock'), 'state');
    writeLock(dir, { pid: 7, host: 'consumer-7f9c-old', bootId: BOOT_ID, startTime: 1234 }, 10_000);
    const err = await StateStore.open({ path: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateLockedError);
    expect((err as Error).message).toMatch(/pid 7 on consumer-7f9c-old .*refreshed 10 s ago.*60 s/);
    writeLock(dir, { pid: 7, host: 'consumer-7f9c-old', bootId: BOOT_ID, startTime: 1234 }, 61_000);
    expect(await opens(dir)).toBe(true);
  });

  it('a live holder keeps its lock fresh: never taken over, even seen from another host; taken over once SIGKILLed', async () => {
    const dir = path.join(tmpDir('lock'), 'state');
    fs.mkdirSync(dir, { recursive: true });
    const holder = runTs('test/state/lock-holder.fixture.ts', [dir]);
    const [, pid] = await holder.waitFor(/^LOCKED (\d+)$/);
    const file = path.join(dir, LOCK_FILE);
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({
      pid: Number(pid),
      host: os.hostname(),
      bootId: BOOT_ID,
      startTime: startTime(Number(pid)),
    });
    // As another container would see it: a foreign host name, and an old mtime.
    writeLock(dir, { ...record, host: 'elsewhere' }, 120_000);
    await expect
      .poll(() => Date.now() - fs.statSync(file).mtimeMs, { interval: 20, timeout: 5_000 })
      .toBeLessThan(5_000);
    expect(await opens(dir)).toBe(false);
    writeLock(dir, record);
    expect(await opens(dir)).toBe(false);
    await killHard(holder);
    expect(await opens(dir)).toBe(true);
  });
});
