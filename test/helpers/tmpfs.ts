import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onTestFinished } from 'vitest';
import { tmpDir } from './tmp.js';

/** True when this process may mount a tmpfs (root on Linux, as here and in CI). */
export const canMountTmpfs: boolean = (() => {
  if (process.platform !== 'linux') return false;
  const probe = fs.mkdtempSync('/tmp/tmpfs-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
})();

/** A small real filesystem that fills up: a tmpfs of `size` (e.g. "4m"), unmounted after the test. */
export function smallFilesystem(size: string): { dir: string; grow(size: string): void } {
  const dir = path.join(tmpDir('tmpfs'), 'mnt');
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  onTestFinished(() => {
    execFileSync('umount', ['-l', dir]);
  });
  return {
    dir,
    grow: (to) => execFileSync('mount', ['-o', `remount,size=${to}`, dir]),
  };
}
