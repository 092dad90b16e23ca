// The package's bin as users get it: src/ compiled by tsc, dist/cli/main.js
// run directly through its shebang (no tsx); and the progress bar, drawn on
// stderr only when stderr is a terminal.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp.js';
import { sharedFixture, tidemark } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const fx = sharedFixture();

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('the built bin', () => {
  it('dist/cli/main.js runs through its shebang: --help, list, verify and export', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: { tidemark: string } };
    const dir = tmpDir('tm-cli-build');
    // The real build configuration into a temporary outDir (type checking is
    // `npm run typecheck`'s job; this proves the emitted program runs).
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules/typescript/bin/tsc'),
        ...['-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')],
        ...['--declaration', 'false', '--sourceMap', 'false', '--noCheck'],
      ],
      { cwd: root, stdio: 'pipe' },
    );
    // Laid out as an installed package: package.json beside dist/, dependencies reachable.
    fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const bin = path.join(dir, pkg.bin.tidemark);
    expect(bin).toBe(path.join(dir, 'dist/cli/main.js'));
    expect(fs.readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    fs.chmodSync(bin, 0o755); // npm does this when it links a bin
    const env = {
      ...process.env,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
      TIDEMARK_CHECKPOINT_KEY: '',
    };

    const help = await run(bin, ['--help'], { env });
    expect(help.stdout).toMatch(/^Usage: tidemark <command> \[options\]/);
    expect(help.stdout).toContain('Exit codes:');

    const { checkpointsDir, stateDir, ids } = fx.get();
    const list = JSON.parse((await run(bin, ['list', '--checkpoints', checkpointsDir, '--json'], { env })).stdout);
    expect(list.checkpoints.map((c: { id: string }) => c.id)).toEqual([ids[1], ids[0]]);
    // verify decodes in the codec worker: the compiled worker entry must load too.
    const verify = await run(bin, ['verify', '--checkpoints', checkpointsDir], { env });
    expect(verify.stdout).toContain('Summary: 2 checkpoints checked, 2 valid, 0 invalid.');
    const exported = (await run(bin, ['export', '--checkpoints', checkpointsDir, '--partition', 'orders:0'], { env }))
      .stdout;
    const viaTsx = await tidemark(['export', '--state', stateDir, '--partition', 'orders:0']);
    expect(exported).toBe(viaTsx.stdout);

    const failed = await run(bin, ['verify', '--checkpoints', path.join(dir, 'nope')], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({
      code: 4,
      stderr: `tidemark: checkpoint directory ${path.join(dir, 'nope')} does not exist\n`,
    });
  });
});

describe('progress', () => {
  it('is not drawn when stderr is not a terminal', async () => {
    const { checkpointsDir } = fx.get();
    const r = await tidemark(['verify', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const e = await tidemark(['export', '--checkpoints', checkpointsDir]);
    expect(e.stderr).not.toContain('\x1b');
  });

  it.skipIf(!hasScript)('is drawn on stderr when it is a terminal (under script(1))', async () => {
    const { checkpointsDir } = fx.get();
    const cmd = [
      process.execPath,
      '--import',
      'tsx',
      path.join(root, 'src/cli/main.ts'),
      'verify',
      '--checkpoints',
      checkpointsDir,
    ]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const { stdout } = await run('script', ['-qec', cmd, '/dev/null'], {
      cwd: root,
      env: { ...process.env, TIDEMARK_CHECKPOINT_KEY: '' },
    });
    // cli-progress hides the cursor when a bar starts and shows it again when it stops.
    expect(stdout).toContain('\x1b[?25l');
    expect(stdout).toContain('\x1b[?25h');
    expect(stdout).toContain('Summary: 2 checkpoints checked, 2 valid, 0 invalid.');
  });
});
