#!/usr/bin/env node
// The `tidemark` command (package.json "bin"). docs/CLI.md describes it.
import { runCli } from './run.js';

// The library reports what it survives (a reader marker it could not write,
// a checkpoint it could not quarantine) through process warnings: print them
// as one tidemark line each, without Node's "(node:pid)" decoration.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  process.stderr.write(`tidemark: warning: ${w.message.replace(/^tidemark: /, '')}\n`);
});

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
// Let stdout drain (a pipe may be asynchronous), then exit even if some
// library handle would keep the loop alive.
process.stdout.write('', () => process.exit(code));
