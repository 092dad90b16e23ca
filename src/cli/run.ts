import { CommanderError } from 'commander';
import { CheckpointKeyError } from '../errors/checkpoint-key-error.js';
import { TidemarkError } from '../errors/tidemark-error.js';
import { CliError, EXIT_CODE_BY_ERROR, ExitCode } from './exit-codes.js';
import { Output, OutputClosed, type CliIo } from './io.js';
import { buildProgram } from './program.js';

/** Runs `tidemark <argv>`; resolves with the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io);
  let code: number = ExitCode.OK;
  const program = buildProgram(out, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help, --version, `tidemark help <command>`: exit 0. Help shown because no command was given: usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.OK;
      if (err.code === 'commander.help' && err.exitCode === 0) return ExitCode.OK;
      // Commander printed the problem (or the help, when no command was given).
      const sub = program.commands.find((c) => c.name() === argv[0]);
      if (err.code !== 'commander.help')
        io.stderr.write(`Run "tidemark ${sub ? `${sub.name()} ` : ''}--help" for usage.\n`);
      return ExitCode.USAGE;
    }
    if (err instanceof OutputClosed) return ExitCode.OK;
    const exit = exitCodeOf(err);
    io.stderr.write(`tidemark: ${messageOf(err)}\n`);
    if (io.env.TIDEMARK_DEBUG === '1') io.stderr.write(`${debugText(err)}\n`);
    return exit;
  }
}

/** The exit code for an error a command threw: by its class or code, never by its message. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof TidemarkError) return EXIT_CODE_BY_ERROR[err.code];
  return ExitCode.FAILURE;
}

function messageOf(err: unknown): string {
  let text = err instanceof Error ? err.message : String(err);
  // The library speaks of its options; the CLI user has --key-file and the environment.
  if (err instanceof CheckpointKeyError)
    text = text.replace(
      /pass that key as "key" or in "previousKeys"/,
      'give that key with --key-file <path> or TIDEMARK_CHECKPOINT_KEY',
    );
  // One line, whatever the error carried; the library's own "tidemark: " prefix is not doubled.
  return text.replace(/^tidemark: /, '').replace(/\s*\n\s*/g, ' ');
}

function debugText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 8; depth++) {
    parts.push(depth === 0 ? String((e as Error)?.stack ?? e) : `caused by: ${String((e as Error)?.stack ?? e)}`);
    e = (e as { cause?: unknown } | null)?.cause;
  }
  return parts.join('\n');
}
