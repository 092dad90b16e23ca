import * as fs from 'node:fs';
import * as path from 'node:path';
import { SchemaVersionError } from '../errors/schema-version-error.js';
import { LMDB_FILE, StateStore } from '../state/index.js';
import { CliError, ExitCode } from './exit-codes.js';

/** What is at a state directory path before the CLI touches it. */
export interface StateDirShape {
  dir: string;
  exists: boolean;
  /** True when it holds a tidemark LMDB environment. */
  hasStore: boolean;
  /** Names in it (when it exists). */
  names: string[];
}

export function stateDirShape(dirArg: string): StateDirShape {
  const dir = path.resolve(dirArg);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return { dir, exists: false, hasStore: false, names: [] };
  }
  if (!st.isDirectory()) throw new CliError(ExitCode.FAILURE, `state directory ${dir} is not a directory`);
  const names = fs.readdirSync(dir);
  return { dir, exists: true, hasStore: names.includes(LMDB_FILE), names };
}

/**
 * Opens an existing state directory to read it, at whatever schema version
 * it is stored in (the CLI runs no migrations and decodes values without
 * knowing their schema). Takes the directory's lock like any opener: a
 * running consumer's directory is refused (exit 3).
 */
export async function openStateForReading(dirArg: string): Promise<StateStore> {
  const shape = stateDirShape(dirArg);
  if (!shape.hasStore) throw new CliError(ExitCode.NOT_FOUND, `no tidemark state in ${shape.dir} (no ${LMDB_FILE})`);
  try {
    return await StateStore.open({ path: shape.dir, sweepIntervalMs: 0 });
  } catch (err) {
    // StateStore.open has no "whatever version is stored": the refusal names it.
    if (err instanceof SchemaVersionError && err.storedVersion > err.expectedVersion) {
      return StateStore.open({ path: shape.dir, sweepIntervalMs: 0, schemaVersion: err.storedVersion });
    }
    throw err;
  }
}
