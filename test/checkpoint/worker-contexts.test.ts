import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runTs } from '../helpers/child.js';
import { tmpDir } from '../helpers/tmp.js';
import { checkpointNow, fill, openRepo, openStore } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// The codec worker is started from src/*.ts under vitest and `node --import
// tsx`, and from dist/*.js once built: each needs its own way in.
describe('the codec worker loads in every context', () => {
  it('under vitest (TypeScript sources)', async () => {
    const store = await openStore();
    await fill(store, { topic: 't', partition: 0 }, 100, 1);
    const repo = openRepo();
    const info = await checkpointNow(store, repo);
    expect((await repo.verify(info.id))[0]!.status).toBe('valid');
  });

  it('under node --import tsx', async () => {
    const child = runTs('test/fixtures/checkpoint-roundtrip.ts', [tmpDir('ckctx')]);
    const m = await child.waitFor(/^ROUNDTRIP .*$/);
    expect(m[0]).toBe('ROUNDTRIP valid 1000 {"i":999}');
    expect(await child.exited).toBe(0);
  });

  it('from compiled JavaScript (tsc output, plain node)', () => {
    const dir = tmpDir('ckctx');
    const out = path.join(dir, 'build');
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        ...['--outDir', path.join(out, 'dist'), '--rootDir', path.join(root, 'src')],
        ...['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--lib', 'ES2023'],
        ...['--strict', '--skipLibCheck', '--esModuleInterop', '--types', 'node'],
        // The worker entry is loaded by URL, not imported: name it (the real build takes all of src/).
        path.join(root, 'src/checkpoint/index.ts'),
        path.join(root, 'src/checkpoint/codec-worker.ts'),
        path.join(root, 'src/state/index.ts'),
      ],
      { cwd: root, stdio: 'pipe' },
    );
    expect(fs.existsSync(path.join(out, 'dist/checkpoint/codec-worker.js'))).toBe(true);
    fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}\n');
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(out, 'node_modules'));
    // The fixture, compiled the same way, run by plain node: no tsx anywhere.
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        ...[
          '--outDir',
          out,
          '--module',
          'NodeNext',
          '--moduleResolution',
          'NodeNext',
          '--target',
          'ES2022',
          '--skipLibCheck',
          '--types',
          'node',
        ],
        ...['--noCheck', path.join(root, 'test/fixtures/checkpoint-roundtrip.ts')],
      ],
      { cwd: root, stdio: 'pipe' },
    );
    const script = fs
      .readdirSync(out, { recursive: true })
      .map(String)
      .find((f) => f.endsWith('checkpoint-roundtrip.js'))!;
    const r = spawnSync(
      process.execPath,
      [path.join(out, script), path.join(dir, 'data'), `${pathToFileURL(path.join(out, 'dist')).href}/`],
      {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    expect(r.stderr).not.toMatch(/tsx|Unknown file extension/);
    expect(r.stdout.trim()).toBe('ROUNDTRIP valid 1000 {"i":999}');
  }, 180_000); // a tsc compile: minutes on a loaded 2-core machine
});
