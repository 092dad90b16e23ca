#!/usr/bin/env node
// Runs before `npm test`, `npm run demo` and `npm run bench`: installs the
// dependencies when node_modules is missing or older than the lockfile, then
// builds dist/ when it is older than src/. A newcomer's first command thus
// works on a fresh clone.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const mtime = (p) => {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};
const newest = (dir) => {
  let m = -1;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    m = Math.max(m, e.isDirectory() ? newest(p) : mtime(p));
  }
  return m;
};
const run = (cmd, args, env = process.env) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`bootstrap: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
};

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 10)) {
  console.error(`tidemark needs Node.js >= 20.10; this is ${process.version}`);
  process.exit(1);
}

const installed = path.join(root, 'node_modules', '.package-lock.json');
if (mtime(installed) < mtime(path.join(root, 'package-lock.json'))) {
  const env = { ...process.env };
  // zstd-napi compiles with node-gyp when its prebuilt binary cannot be
  // downloaded; point node-gyp at this Node's own headers so it needs no
  // download either.
  const nodeDir = path.resolve(path.dirname(process.execPath), '..');
  if (!env.npm_config_nodedir && fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = nodeDir;
  }
  console.error('bootstrap: installing dependencies (npm ci)...');
  run('npm', ['ci', '--no-audit', '--no-fund'], env);
}

if (mtime(path.join(root, 'dist', 'index.js')) < newest(path.join(root, 'src'))) {
  console.error('bootstrap: building dist/ ...');
  run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
}
