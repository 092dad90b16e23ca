import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_BY_ERROR, ExitCode } from '../../src/cli/exit-codes.js';
import { exitCodeOf } from '../../src/cli/run.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import * as errors from '../../src/errors/index.js';
import {
  ConfigError,
  EncryptionKeyError,
  InvalidArgumentError,
  InvalidValueError,
  TidemarkError,
} from '../../src/errors/index.js';

// Every exported error class, by its static code.
function classesByCode(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, value] of Object.entries(errors)) {
    if (typeof value !== 'function' || !(value.prototype instanceof TidemarkError)) continue;
    const code = (value as unknown as { code?: unknown }).code;
    expect(typeof code, `${name} has a static code`).toBe('string');
    out.set(code as string, [...(out.get(code as string) ?? []), name]);
  }
  return out;
}

// docs/ERRORS.md's table: code -> { class, meaning, exit }.
function documented(): Map<string, { cls: string; meaning: string; exit: number }> {
  const text = fs.readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  const out = new Map<string, { cls: string; meaning: string; exit: number }>();
  for (const line of text.split('\n')) {
    const m = /^\| `(ERR_TIDEMARK_[A-Z_]+)` \| `(\w+)` \| (.+) \| (\d) \|$/.exec(line);
    if (m) out.set(m[1]!, { cls: m[2]!, meaning: m[3]!.trim(), exit: Number(m[4]) });
  }
  return out;
}

describe('error codes: a closed set', () => {
  it('every code has exactly one class, and every class a declared code', () => {
    const byCode = classesByCode();
    for (const code of ERROR_CODES) expect(byCode.get(code), code).toHaveLength(1);
    expect([...byCode.keys()].sort()).toEqual([...ERROR_CODES].sort());
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('docs/ERRORS.md gives each code its class, its meaning and its CLI exit code', () => {
    const docs = documented();
    const byCode = classesByCode();
    expect([...docs.keys()].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      const d = docs.get(code)!;
      expect(d.cls, code).toBe(byCode.get(code)![0]);
      expect(d.meaning.length, code).toBeGreaterThan(20);
      expect(d.exit, code).toBe(EXIT_CODE_BY_ERROR[code]);
    }
  });

  it('README points to the list and names every class', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('docs/ERRORS.md');
    for (const [, names] of classesByCode()) expect(readme, names[0]).toContain(`\`${names[0]}\``);
  });

  it('a subclass carries its own code and is an instance of its parent', () => {
    const v = new InvalidValueError('x');
    expect(v).toBeInstanceOf(InvalidArgumentError);
    expect(v.code).toBe('ERR_TIDEMARK_INVALID_VALUE');
    const k = new EncryptionKeyError('x');
    expect(k).toBeInstanceOf(ConfigError);
    expect(k.code).toBe('ERR_TIDEMARK_ENCRYPTION_KEY');
    expect(k.name).toBe('EncryptionKeyError');
  });
});

describe('CLI exit codes follow the class, not the message', () => {
  it('a ConfigError that mentions a key is still a plain failure; a malformed key exits 6', () => {
    expect(exitCodeOf(new ConfigError('"prefix" must be a key such as team/orders'))).toBe(ExitCode.FAILURE);
    expect(exitCodeOf(new EncryptionKeyError('"key" must be a 32-byte Buffer'))).toBe(ExitCode.KEY);
    expect(exitCodeOf(new InvalidValueError('no key here'))).toBe(ExitCode.USAGE);
    expect(exitCodeOf(new Error('checkpoint not found'))).toBe(ExitCode.FAILURE);
  });
});

describe('every throw site uses a class', () => {
  // Files being rewritten on other branches when the codes were closed; their
  // few `new TidemarkError(code, ...)` go when they land. Do not add to it.
  const PENDING = new Set<string>();

  it('no source file builds a bare TidemarkError', () => {
    const root = new URL('../../src/', import.meta.url);
    const offenders: string[] = [];
    for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
      if (!rel.endsWith('.ts')) continue;
      const file = `src/${rel}`;
      const text = fs.readFileSync(new URL(rel, root), 'utf8');
      if (/new TidemarkError\(/.test(text) && !PENDING.has(file)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
