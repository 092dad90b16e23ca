import * as fs from 'node:fs';
import * as path from 'node:path';
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
 * knowing their schema), read-only: beside a running consumer, which keeps
 * its lock.
 */
export async function openStateForReading(dirArg: string): Promise<StateStore> {
  const shape = stateDirShape(dirArg);
  if (!shape.hasStore) throw new CliError(ExitCode.NOT_FOUND, `no tidemark state in ${shape.dir} (no ${LMDB_FILE})`);
  return StateStore.open({ path: shape.dir, readOnly: true });
}
