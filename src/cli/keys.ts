import * as fs from 'node:fs';
import { keyFingerprint } from '../checkpoint/index.js';
import { CliError, ExitCode } from './exit-codes.js';

/** Environment variable holding a checkpoint key (hex or base64 text). */
export const KEY_ENV = 'TIDEMARK_CHECKPOINT_KEY';

const KEY_BYTES = 32;
const HEX_RE = /^[0-9a-fA-F]{64}$/;
// Standard or URL-safe base64 of 32 bytes: 43 characters, optional padding.
const BASE64_RE = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Parses a key written as text: 64 hex digits, or base64 (standard or
 * URL-safe) of 32 bytes. Surrounding whitespace is ignored. The error never
 * repeats the text, which may be a key.
 */
export function parseKeyText(text: string, where: string): Buffer {
  const t = text.trim();
  if (HEX_RE.test(t)) return Buffer.from(t, 'hex');
  if (BASE64_RE.test(t)) {
    const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  throw new CliError(
    ExitCode.KEY,
    `${where} does not hold a ${KEY_BYTES}-byte key: expected 64 hex digits or base64 of ${KEY_BYTES} bytes ` +
      `(e.g. the output of "openssl rand -base64 32")${t.length === 0 ? '; it is empty' : `; it holds ${t.length} characters`}`,
  );
}

/** Reads a key file: exactly 32 raw bytes, or a text key as {@link parseKeyText} takes. */
export function readKeyFile(file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      ExitCode.KEY,
      `cannot read key file ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  if (bytes.length === KEY_BYTES) return bytes;
  return parseKeyText(bytes.toString('utf8'), `key file ${file}`);
}

/** Every key given: each --key-file in order, then the environment variable. */
export function loadKeys(keyFiles: readonly string[], env: NodeJS.ProcessEnv): Buffer[] {
  const keys = keyFiles.map(readKeyFile);
  const fromEnv = env[KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') keys.push(parseKeyText(fromEnv, `environment variable ${KEY_ENV}`));
  const seen = new Set<string>();
  return keys.filter((k) => {
    const fp = keyFingerprint(k);
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
}
