import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const composeFile = path.join(root, 'docker-compose.yml');
const hasComposePlugin = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;

// compose-spec/compose-go, the loader `docker compose config` uses, for
// machines without the Docker Compose plugin (CI has Go, not the plugin).
function composeCheck(file: string): { status: number | null; out: string } {
  const r = spawnSync('go', ['run', '.', file], { cwd: path.join(root, 'scripts', 'compose-check'), encoding: 'utf8' });
  if (r.error)
    throw new Error(`cannot run Go (needed to validate docker-compose.yml without Docker Compose): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('docker-compose.yml', () => {
  it('is accepted by the Compose loader (compose-go, as docker compose config)', () => {
    const r = composeCheck(composeFile);
    expect(r.out).toMatch(/valid \(7 services\)/);
    expect(r.status).toBe(0);
  }, 300_000);

  it('and the checker rejects a broken file', () => {
    const broken = path.join(tmpDir('compose'), 'docker-compose.yml');
    fs.writeFileSync(broken, fs.readFileSync(composeFile, 'utf8').replace('depends_on:', 'depends_onn:'));
    const r = composeCheck(broken);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/depends_onn/);
  }, 300_000);

  it.runIf(hasComposePlugin)('is accepted by docker compose config', () => {
    const r = spawnSync('docker', ['compose', '-f', composeFile, 'config', '-q'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
