import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { exportCommand, type ExportOptions } from './commands/export.js';
import { inspectCommand, type InspectOptions } from './commands/inspect.js';
import { listCommand, type ListOptions } from './commands/list.js';
import { pruneCommand, type PruneOptions } from './commands/prune.js';
import { restoreCommand, type RestoreCommandOptions } from './commands/restore.js';
import { verifyCommand, type VerifyOptions } from './commands/verify.js';
import { EXIT_CODES_HELP, ExitCode } from './exit-codes.js';
import type { Output } from './io.js';
import { KEY_ENV } from './keys.js';
import { collect, collectPartition, integerAtLeast, parseDuration } from './options.js';

const ENVIRONMENT_HELP = `Environment:
  ${KEY_ENV}  a 32-byte checkpoint key, as 64 hex digits or base64
                           (read in addition to any --key-file)
  TIDEMARK_DEBUG=1         print stack traces of errors`;

const KEY_FILE_HELP =
  'file holding a 32-byte checkpoint key: 32 raw bytes, 64 hex digits or base64 (repeatable: older keys for older checkpoints)';

/** The `tidemark` program; `setExit` receives each command's exit code. */
export function buildProgram(out: Output, setExit: (code: number) => void): Command {
  const program = new Command('tidemark');
  program
    .description('Inspect, verify, restore, prune and export tidemark checkpoints and state directories.')
    .usage('<command> [options]')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void out.io.stdout.write(s),
      writeErr: (s) => void out.io.stderr.write(s),
      // "error: unknown option '--x'" -> "tidemark: unknown option '--x'"
      outputError: (s, write) => write(`tidemark: ${s.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(true)
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText(
      'after',
      `\n${EXIT_CODES_HELP}\n\n${ENVIRONMENT_HELP}\n\nSee docs/CLI.md for every command, its output and examples.`,
    );

  const keyFile = (): Option => new Option('--key-file <path>', KEY_FILE_HELP).argParser(collect);
  const checkpointsDir = (): Option =>
    new Option(
      '--checkpoints <dir>',
      'checkpoint directory, or s3://bucket/prefix (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
    ).makeOptionMandatory();
  const partitionOpt = (what: string): Option =>
    new Option('--partition <topic:n>', `${what} (repeatable)`).argParser(collectPartition);

  program
    .command('list')
    .description(
      'list every checkpoint: id, time, status, partitions with offsets, entries, sizes; quarantined ones apart',
    )
    .addOption(checkpointsDir())
    .addOption(keyFile())
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'tidemark list --checkpoints /var/lib/orders/checkpoints',
        'tidemark list --checkpoints ./checkpoints --json | jq ".checkpoints[0].id"',
      ),
    )
    .action(async (opts: ListOptions) => setExit(await listCommand(opts, out)));

  program
    .command('verify')
    .description('re-read and re-check every byte of every checkpoint (or of one); exit 1 if any is invalid')
    .argument('[id]', 'verify only this checkpoint (also found in quarantine)')
    .addOption(checkpointsDir())
    .addOption(keyFile())
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'tidemark verify --checkpoints ./checkpoints',
        'tidemark verify --checkpoints ./checkpoints 20261122T193000123Z-9f86d081884c7d65 --json',
      ) +
        '\n\nIncomplete checkpoints (no manifest: being written, or a crashed write) are listed but not counted as invalid unless named.\nNothing is quarantined or changed, apart from the reader markers every reader writes.',
    )
    .action(async (id: string | undefined, opts: VerifyOptions) => setExit(await verifyCommand(id, opts, out)));

  program
    .command('inspect')
    .description('show a checkpoint: its manifest, each partition, and a sample of decoded entries')
    .argument('<id>', 'checkpoint id (also found in quarantine)')
    .addOption(checkpointsDir())
    .addOption(keyFile())
    .addOption(partitionOpt('show only this partition'))
    .addOption(
      new Option(
        '--sample <n>',
        'entries shown per partition, 0 for none (sampled partitions are read and verified in full)',
      )
        .argParser(integerAtLeast(0))
        .default(5),
    )
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'tidemark inspect --checkpoints ./checkpoints 20261122T193000123Z-9f86d081884c7d65',
        'tidemark inspect --checkpoints ./checkpoints <id> --partition orders:3 --sample 20 --json',
      ),
    )
    .action(async (id: string, opts: InspectOptions) => setExit(await inspectCommand(id, opts, out)));

  program
    .command('restore')
    .description('restore a state directory from checkpoints (offline: the consumer must be stopped)')
    .addOption(checkpointsDir())
    .addOption(
      new Option('--state <dir>', 'state directory to restore into (created if missing)').makeOptionMandatory(),
    )
    .option(
      '--checkpoint <id>',
      'restore from this checkpoint only (no fallback); default per partition the valid one holding it furthest ahead, as the consumer does',
    )
    .addOption(partitionOpt('restore only this partition'))
    .option('--force', 'replace state already in the state directory (for the partitions restored)')
    .option(
      '--migrations <module>',
      "a module exporting the consumer's schemaVersion and migrations: older checkpoints are migrated as they are restored",
    )
    .addOption(keyFile())
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'tidemark restore --checkpoints ./checkpoints --state ./state',
        'tidemark restore --checkpoints ./checkpoints --state ./state --partition orders:3 --force',
        'tidemark restore --checkpoints ./checkpoints --state ./state --checkpoint <id> --key-file /etc/tidemark/key',
      ) +
        '\n\nEvery segment is verified before anything is replaced. A checkpoint that fails verification is\nmoved to quarantine/ and passed over; each one skipped is printed with its reason. Ends with the\noffsets the consumer will resume from.',
    )
    .action(async (opts: RestoreCommandOptions) => setExit(await restoreCommand(opts, out)));

  program
    .command('prune')
    .description('apply retention: delete old checkpoints, remove stale incomplete ones, quarantine corrupt ones')
    .addOption(checkpointsDir())
    .addOption(
      new Option('--keep <n>', 'newest valid checkpoints to keep per partition')
        .argParser(integerAtLeast(1))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--max-age <duration>', 'also delete checkpoints older than this, e.g. 7d, 12h, 1d12h').argParser(
        parseDuration,
      ),
    )
    .addOption(
      new Option('--incomplete-after <duration>', 'remove incomplete checkpoints older than this')
        .argParser(parseDuration)
        .default(3_600_000, '1h'),
    )
    .option('--dry-run', 'print what would be done; change nothing')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      examples(
        'tidemark prune --checkpoints ./checkpoints --keep 3',
        'tidemark prune --checkpoints ./checkpoints --keep 2 --max-age 7d --dry-run',
      ) +
        '\n\nThe newest valid checkpoint, and checkpoints being read, are never deleted. Quarantined ones are never touched.',
    )
    .action(async (opts: PruneOptions) => setExit(await pruneCommand(opts, out)));

  program
    .command('export')
    .description('print entries as JSON lines {"topic","partition","scope","key","value"} on stdout')
    .option('--checkpoints <dir>', 'export from the checkpoints in this directory or s3://bucket/prefix')
    .option(
      '--checkpoint <id>',
      'with --checkpoints: this checkpoint only; default each partition from the one restore would take',
    )
    .option('--state <dir>', 'export from this state directory (the consumer must be stopped)')
    .addOption(partitionOpt('export only this partition'))
    .option('--include-expired', 'also export entries whose TTL has passed')
    .addOption(keyFile())
    .addHelpText(
      'after',
      examples(
        'tidemark export --checkpoints ./checkpoints > state.jsonl',
        'tidemark export --checkpoints ./checkpoints --checkpoint <id> --partition orders:3',
        'tidemark export --state ./state | jq -c "select(.scope == \\"tenant-a\\")"',
      ) +
        '\n\nValues that JSON cannot hold are tagged: {"$bigint":"12"}, {"$date":"...Z"}, {"$binary":"<base64>"},\n{"$set":[...]}, {"$undefined":true}; see docs/CLI.md. Messages and progress go to stderr.',
    )
    .action(async (o: ExportOptions, cmd: Command) => {
      if ((o.checkpoints === undefined) === (o.state === undefined)) {
        cmd.error('export: give exactly one of --checkpoints <dir> or --state <dir>', {
          exitCode: ExitCode.USAGE,
          code: 'tidemark.usage',
        });
      }
      if (o.checkpoint !== undefined && o.checkpoints === undefined) {
        cmd.error('export: --checkpoint <id> needs --checkpoints <dir>', {
          exitCode: ExitCode.USAGE,
          code: 'tidemark.usage',
        });
      }
      setExit(await exportCommand(o, out));
    });

  return program;
}

// package.json is two levels up from both src/cli/ and dist/cli/.
function packageVersion(): string {
  try {
    return (
      (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string })
        .version ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
