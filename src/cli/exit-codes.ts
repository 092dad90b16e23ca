import type { ErrorCode } from '../errors/codes.js';

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

/**
 * The exit code for each library error a command lets through. Total over
 * {@link ErrorCode}: a new code does not compile until it is given one here.
 */
export const EXIT_CODE_BY_ERROR: Readonly<Record<ErrorCode, ExitCodeValue>> = {
  ERR_TIDEMARK_INVALID_ARGUMENT: ExitCode.USAGE,
  ERR_TIDEMARK_INVALID_KEY: ExitCode.USAGE,
  ERR_TIDEMARK_INVALID_VALUE: ExitCode.USAGE,
  ERR_TIDEMARK_CONFIG: ExitCode.FAILURE,
  ERR_TIDEMARK_ENCRYPTION_KEY: ExitCode.KEY,
  ERR_TIDEMARK_UNSUPPORTED: ExitCode.FAILURE,
  ERR_TIDEMARK_STATE_LOCKED: ExitCode.LOCKED,
  ERR_TIDEMARK_SCHEMA_VERSION: ExitCode.FAILURE,
  ERR_TIDEMARK_MIGRATION: ExitCode.FAILURE,
  ERR_TIDEMARK_STORE_CLOSED: ExitCode.FAILURE,
  ERR_TIDEMARK_STORE_READ_ONLY: ExitCode.FAILURE,
  ERR_TIDEMARK_PARTITION_RELEASED: ExitCode.FAILURE,
  ERR_TIDEMARK_UNCOMMITTED: ExitCode.FAILURE,
  ERR_TIDEMARK_STORAGE: ExitCode.FAILURE,
  ERR_TIDEMARK_OBJECT_STORAGE: ExitCode.FAILURE,
  ERR_TIDEMARK_CHECKPOINT_CORRUPT: ExitCode.INVALID,
  ERR_TIDEMARK_CHECKPOINT_FORMAT: ExitCode.INVALID,
  ERR_TIDEMARK_CHECKPOINT_KEY: ExitCode.KEY,
  ERR_TIDEMARK_CHECKPOINT_NOT_FOUND: ExitCode.NOT_FOUND,
  ERR_TIDEMARK_CHECKPOINT_TIMEOUT: ExitCode.FAILURE,
  ERR_TIDEMARK_CHECKPOINT_FAILED: ExitCode.FAILURE,
  ERR_TIDEMARK_PIPELINE_STATE: ExitCode.FAILURE,
  ERR_TIDEMARK_HANDLER_FAILED: ExitCode.FAILURE,
  ERR_TIDEMARK_NONDETERMINISTIC_HANDLER: ExitCode.FAILURE,
  ERR_TIDEMARK_SOURCE: ExitCode.FAILURE,
  ERR_TIDEMARK_OFFSET_GAP: ExitCode.FAILURE,
  ERR_TIDEMARK_TOPIC_NOT_FOUND: ExitCode.FAILURE,
};

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
