import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { onTestFinished } from 'vitest';

/** A fresh directory for one test, removed when the test ends. */
export function tmpDir(label = 'tm'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-${randomUUID().slice(0, 8)}-`));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A unique name (topic, group, directory) for one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}
