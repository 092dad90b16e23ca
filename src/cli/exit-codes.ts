/**
 * Exit codes of the `tidemark` command (docs/CLI.md, `tidemark --help`).
 * Stable: scripts and runbooks switch on them.
 */
export const ExitCode = {
  /** Everything asked for was done; every checkpoint checked is valid. */
  OK: 0,
  /** A checkpoint checked or read is invalid: corrupt, incomplete or of an unsupported format. */
  INVALID: 1,
  /** Bad command line: unknown command or option, missing or malformed value. */
  USAGE: 2,
  /** The state directory is held by another live process (its pid is printed). */
  LOCKED: 3,
  /** Not found: a directory, a checkpoint id, a partition, or any valid checkpoint to restore from. */
  NOT_FOUND: 4,
  /** Refused: the state directory already holds state and --force was not given. */
  REFUSED: 5,
  /** Encryption key missing, wrong or malformed. */
  KEY: 6,
  /** Any other failure: I/O error, full disk, schema version mismatch, unexpected error. */
  FAILURE: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit codes as `tidemark --help` and docs/CLI.md show them. */
export const EXIT_CODES_HELP = `Exit codes:
  0  ok: done; every checkpoint checked is valid
  1  a checkpoint checked or read is invalid (corrupt, incomplete, unsupported format)
  2  usage error (unknown command or option, missing or malformed value)
  3  the state directory is locked by another process (its pid is printed)
  4  not found (directory, checkpoint id, partition, or no valid checkpoint)
  5  refused: the state directory holds state and --force was not given
  6  encryption key missing, wrong or malformed
  7  any other failure (I/O error, full disk, schema version mismatch, ...)`;

/** A failure the CLI reports as one line, with its exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
