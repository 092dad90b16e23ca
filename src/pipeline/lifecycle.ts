import { PipelineStateError } from '../errors/pipeline-state-error.js';

/**
 * Where a pipeline is in its life (internal).
 *
 * - `created`: constructed, not started.
 * - `starting`: `start()` is starting the source; assignments and batches
 *   are already processed (a source may assign during its start).
 * - `running`: the source started.
 * - `stopping`: `stop()` or `abort()` is shutting down.
 * - `failing`: an error stopped it; the shutdown is under way.
 * - `stopped`, `failed`: the shutdown is over (`done` has settled). Final.
 */
export type LifecycleState = 'created' | 'starting' | 'running' | 'stopping' | 'failing' | 'stopped' | 'failed';

/** Every legal transition: from each state, the states it may go to. */
export const TRANSITIONS: Readonly<Record<LifecycleState, readonly LifecycleState[]>> = {
  created: ['starting', 'stopping'],
  starting: ['running', 'stopping', 'failing'],
  running: ['stopping', 'failing'],
  stopping: ['stopped', 'failing'],
  failing: ['failed'],
  stopped: [],
  failed: [],
};

/** True when `from` may go to `to`. */
export function canTransition(from: LifecycleState, to: LifecycleState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The state after `from -> to`; an illegal transition throws a PipelineStateError. */
export function transition(from: LifecycleState, to: LifecycleState): LifecycleState {
  if (!canTransition(from, to)) throw new PipelineStateError(`pipeline cannot go from ${from} to ${to}`);
  return to;
}

/** States in which records, assignments and commit triggers are processed. */
export function isActive(state: LifecycleState): boolean {
  return state === 'starting' || state === 'running';
}

/** The pipeline's one lifecycle: its state, changed only through {@link transition}. */
export class Lifecycle {
  private current: LifecycleState = 'created';

  get state(): LifecycleState {
    return this.current;
  }

  /** Records, assignments and commit triggers are processed. */
  get active(): boolean {
    return isActive(this.current);
  }

  /** Moves to `to`; throws on an illegal transition. */
  to(to: LifecycleState): void {
    this.current = transition(this.current, to);
  }

  /** Moves to `to` when that is legal; false (and no change) otherwise. */
  tryTo(to: LifecycleState): boolean {
    if (!canTransition(this.current, to)) return false;
    this.current = to;
    return true;
  }
}
