// `npm run bench [-- --quick] [-- --only <name>]`: runs every bench/*.bench.ts module,
// prints a table and writes bench/results.json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext, BenchResult } from './lib/result.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });

const modules = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => values.only === undefined || f.startsWith(values.only))
  .sort();
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-'));
const ctx: BenchContext = { workDir, quick: values.quick, log: (m) => console.error(`  ${m}`) };
const results: BenchResult[] = [];
try {
  for (const file of modules) {
    console.error(`# ${file}`);
    const mod = (await import(pathToFileURL(path.join(here, file)).href)) as {
      run(ctx: BenchContext): Promise<BenchResult[]>;
    };
    results.push(...(await mod.run(ctx)));
  }
} finally {
  fs.rmSync(workDir, { recursive: true, force: true });
}

const rows = results.map((r) => [
  r.name,
  `${r.value} ${r.unit}`,
  `${r.baseline} ${r.unit} (${r.baselineName})`,
  String(r.ratio),
  r.goal ?? '',
  r.met === null ? '' : r.met ? 'yes' : 'NO',
]);
const head = ['figure', 'tidemark', 'baseline', 'ratio', 'goal', 'met'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));

const out = path.join(here, 'results.json');
const previous: BenchResult[] =
  values.only !== undefined && fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as BenchResult[]) : [];
const merged = [...previous.filter((p) => !results.some((r) => r.name === p.name)), ...results];
fs.writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
console.error(`wrote ${path.relative(process.cwd(), out)} (${os.cpus().length} cores, node ${process.version})`);
