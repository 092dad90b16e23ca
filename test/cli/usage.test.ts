// The command line itself: usage errors (exit 2), --help for every command,
// one-line errors without stack traces, encryption keys from a file or the
// environment.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmpDir } from '../helpers/tmp.js';
import { expectOneLineError, sharedFixture, tidemark } from './support.js';

const COMMANDS = ['list', 'verify', 'inspect', 'restore', 'prune', 'export'];

describe('usage errors exit 2 with a clear message', () => {
  it.each([
    [['frobnicate'], /^tidemark: unknown command 'frobnicate'\nRun "tidemark --help" for usage\.\n$/],
    [['lsit', '--checkpoints', 'x'], /^tidemark: unknown command 'lsit'\n\(Did you mean list\?\)\n/],
    [
      ['list'],
      /^tidemark: required option '--checkpoints <dir>' not specified\nRun "tidemark list --help" for usage\.\n$/,
    ],
    [['list', '--checkpoints'], /^tidemark: option '--checkpoints <dir>' argument missing\n/],
    [['list', '--checkpoints', 'x', '--bogus'], /^tidemark: unknown option '--bogus'\n/],
    [['restore', '--checkpoints', 'x'], /^tidemark: required option '--state <dir>' not specified\n/],
    [
      ['restore', '--checkpoints', 'x', '--state', 'y', '--partition', 'orders'],
      /^tidemark: option '--partition <topic:n>' argument 'orders' is invalid\. expected <topic>:<partition>, e\.g\. orders:3\nRun "tidemark restore --help" for usage\.\n$/,
    ],
    [
      ['export', '--checkpoints', 'x', '--partition', 'orders:-1'],
      /argument 'orders:-1' is invalid\. expected <topic>:<partition>/,
    ],
    [
      ['export', '--state', 'x', '--partition', 'bad topic:1'],
      /argument 'bad topic:1' is invalid\. invalid topic "bad topic"/,
    ],
    [['inspect', '--checkpoints', 'x'], /^tidemark: missing required argument 'id'\n/],
    [['verify', '--checkpoints', 'x', 'a', 'b'], /^tidemark: too many arguments for 'verify'/],
    [['prune', '--checkpoints', 'x'], /^tidemark: required option '--keep <n>' not specified\n/],
    [
      ['prune', '--checkpoints', 'x', '--keep', 'three'],
      /argument 'three' is invalid\. expected an integer >= 1, got "three"/,
    ],
    [
      ['prune', '--checkpoints', 'x', '--keep', '2', '--max-age', 'soon'],
      /argument 'soon' is invalid\. expected a duration such as 90s/,
    ],
    [['inspect', '--checkpoints', 'x', 'id', '--sample', '-1'], /argument '-1' is invalid\. expected an integer >= 0/],
    [
      ['export'],
      /^tidemark: export: give exactly one of --checkpoints <dir> or --state <dir>\nRun "tidemark export --help" for usage\.\n$/,
    ],
    [
      ['export', '--checkpoints', 'x', '--state', 'y'],
      /^tidemark: export: give exactly one of --checkpoints <dir> or --state <dir>\n/,
    ],
    [
      ['export', '--state', 'y', '--checkpoint', 'z'],
      /^tidemark: export: --checkpoint <id> needs --checkpoints <dir>\n/,
    ],
  ])('tidemark %j', async (args, message) => {
    const r = await tidemark(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('no command at all prints the help on stderr', async () => {
    const r = await tidemark([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: tidemark <command> \[options\]/);
  });
});

describe('--help', () => {
  it('tidemark --help lists every command, the exit codes and the environment', async () => {
    const r = await tidemark(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(r.stdout).toContain('Exit codes:');
    for (const code of [0, 1, 2, 3, 4, 5, 6, 7]) expect(r.stdout).toMatch(new RegExp(`^  ${code}  \\S`, 'm'));
    expect(r.stdout).toContain('TIDEMARK_CHECKPOINT_KEY');
    expect(r.stdout).toContain('TIDEMARK_DEBUG=1');
    expect((await tidemark(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it.each(COMMANDS)('tidemark %s --help, and the same through tidemark help', async (command) => {
    const r = await tidemark([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: tidemark ${command} `));
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`tidemark ${command} --`);
    expect(r.stdout).toContain('-h, --help');
    const viaHelp = await tidemark(['help', command]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(r.stdout);
  });

  it('listing commands offer --json; checkpoint readers offer --key-file', async () => {
    for (const c of ['list', 'verify', 'inspect', 'restore', 'prune'])
      expect((await tidemark([c, '--help'])).stdout).toContain('--json');
    for (const c of ['list', 'verify', 'inspect', 'restore', 'export'])
      expect((await tidemark([c, '--help'])).stdout).toContain('--key-file <path>');
  });
});

describe('errors', () => {
  it('are one line, without a stack trace unless TIDEMARK_DEBUG=1', async () => {
    const dir = path.join(tmpDir('tm-cli-usage'), 'nowhere');
    const r = await tidemark(['verify', '--checkpoints', dir]);
    expect(r.code).toBe(4);
    expect(expectOneLineError(r.stderr)).toEqual([`tidemark: checkpoint directory ${dir} does not exist`]);
    const debug = await tidemark(['verify', '--checkpoints', dir], { TIDEMARK_DEBUG: '1' });
    expect(debug.code).toBe(4);
    expect(debug.stderr).toMatch(
      /^tidemark: checkpoint directory .* does not exist\nCliError: checkpoint directory[^\n]*\n\s+at /,
    );
  });
});

describe('encrypted checkpoints', () => {
  const key = randomBytes(32);
  const fx = sharedFixture(key);

  it('without the key: a clear error naming the key fingerprint (exit 6); list still works and says so', async () => {
    const { checkpointsDir, ids } = fx.get();
    const r = await tidemark(['export', '--checkpoints', checkpointsDir]);
    expect(r.code).toBe(6);
    expect(r.stdout).toBe('');
    expect(expectOneLineError(r.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^tidemark: checkpoint ${ids[1]} is encrypted with the key whose fingerprint is [0-9a-f]{16}; no key was given \\(give that key with --key-file <path> or TIDEMARK_CHECKPOINT_KEY; nothing was read\\)$`,
        ),
      ),
    ]);
    const list = await tidemark(['list', '--checkpoints', checkpointsDir, '--json']);
    expect(list.code).toBe(0);
    expect(list.json().checkpoints[0].encryption).toMatchObject({ algorithm: 'aes-256-gcm', keyAvailable: false });
    const verify = await tidemark(['verify', '--checkpoints', checkpointsDir]);
    expect(verify.code).toBe(6);
    expect(verify.stdout).toContain(`${ids[1]}  NOT CHECKED: encrypted with the key whose fingerprint is`);
  });

  it('the key from TIDEMARK_CHECKPOINT_KEY (base64 or hex) or --key-file (raw, hex or base64)', async () => {
    const { checkpointsDir } = fx.get();
    const dir = tmpDir('tm-cli-keys');
    const files = {
      raw: key,
      hex: `${key.toString('hex')}\n`,
      base64: `${key.toString('base64')}\n`,
      base64url: key.toString('base64url'),
    };
    for (const [name, content] of Object.entries(files))
      fs.writeFileSync(path.join(dir, name), content, { mode: 0o600 });
    for (const name of Object.keys(files)) {
      const r = await tidemark(['verify', '--checkpoints', checkpointsDir, '--key-file', path.join(dir, name)]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    for (const text of [key.toString('base64'), key.toString('hex')]) {
      const r = await tidemark(['export', '--checkpoints', checkpointsDir, '--partition', 'orders:0'], {
        TIDEMARK_CHECKPOINT_KEY: text,
      });
      expect(r.code).toBe(0);
      expect(r.jsonLines()).toHaveLength(20);
    }
    // Several keys: the one that fits is used (key rotation).
    fs.writeFileSync(path.join(dir, 'other'), randomBytes(32));
    const both = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      path.join(dir, 'state'),
      '--key-file',
      path.join(dir, 'other'),
      '--key-file',
      path.join(dir, 'hex'),
    ]);
    expect(both.code).toBe(0);
  });

  it('a wrong or malformed key is a clear error (exit 6) that never shows the key', async () => {
    const { checkpointsDir, ids } = fx.get();
    const dir = tmpDir('tm-cli-keys');
    const wrong = randomBytes(32);
    fs.writeFileSync(path.join(dir, 'wrong'), wrong);
    const r = await tidemark([
      'inspect',
      '--checkpoints',
      checkpointsDir,
      ids[0],
      '--key-file',
      path.join(dir, 'wrong'),
    ]);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('entries not shown: encrypted: give its key');
    const restore = await tidemark([
      'restore',
      '--checkpoints',
      checkpointsDir,
      '--state',
      path.join(dir, 'state'),
      '--key-file',
      path.join(dir, 'wrong'),
    ]);
    expect(restore.code).toBe(6);
    expect(restore.stderr).toMatch(/the key\(s\) given have fingerprint\(s\) [0-9a-f]{16}/);
    expect(fs.existsSync(path.join(dir, 'state'))).toBe(false);

    fs.writeFileSync(path.join(dir, 'short'), 'c2hvcnQ=\n');
    const bad = await tidemark(['list', '--checkpoints', checkpointsDir, '--key-file', path.join(dir, 'short')]);
    expect(bad.code).toBe(6);
    expect(bad.stderr).toBe(
      `tidemark: key file ${path.join(dir, 'short')} does not hold a 32-byte key: expected 64 hex digits or base64 of 32 bytes ` +
        '(e.g. the output of "openssl rand -base64 32"); it holds 8 characters\n',
    );
    const env = await tidemark(['list', '--checkpoints', checkpointsDir], { TIDEMARK_CHECKPOINT_KEY: 'x'.repeat(20) });
    expect(env.code).toBe(6);
    expect(env.stderr).toMatch(/^tidemark: environment variable TIDEMARK_CHECKPOINT_KEY does not hold a 32-byte key/);
    expect(env.stderr).not.toContain('x'.repeat(20));
    const missing = await tidemark(['list', '--checkpoints', checkpointsDir, '--key-file', path.join(dir, 'absent')]);
    expect(missing.code).toBe(6);
    expect(missing.stderr).toBe(`tidemark: cannot read key file ${path.join(dir, 'absent')}: no such file\n`);
  });
});
