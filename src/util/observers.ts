// Observers (metrics, logs) watch the pipeline and checkpoints; they must
// never change what they watch. A hook that throws is caught here, reported
// once per observer and hook as a process warning, and counted; processing
// goes on as if it had returned.

// Observer -> hook -> how many times it threw.
const failures = new WeakMap<object, Map<string, number>>();

type HookArgs<O, K extends keyof O> = O[K] extends ((...args: infer A) => unknown) | undefined ? A : never;

/**
 * Calls `hook` on each observer that has it, in order. An observer that
 * throws does not stop the others, nor the caller: the first throw of each
 * (observer, hook) becomes a `process.emitWarning` naming `kind` and the
 * hook; later ones are only counted ({@link observerFailures}).
 */
export function notifyObservers<O extends object, K extends keyof O & string>(
  kind: string,
  observers: readonly (O | undefined)[],
  hook: K,
  ...args: HookArgs<O, K>
): void {
  for (const o of observers) {
    const fn = o?.[hook] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') continue;
    try {
      fn.apply(o, args);
    } catch (err) {
      recordFailure(kind, o as object, hook, err);
    }
  }
}

/** How many times `observer`'s `hook` threw (0 if never). */
export function observerFailures(observer: object, hook: string): number {
  return failures.get(observer)?.get(hook) ?? 0;
}

function recordFailure(kind: string, observer: object, hook: string, err: unknown): void {
  let byHook = failures.get(observer);
  if (byHook === undefined) {
    byHook = new Map();
    failures.set(observer, byHook);
  }
  const n = (byHook.get(hook) ?? 0) + 1;
  byHook.set(hook, n);
  if (n === 1) {
    const message = err instanceof Error ? err.message : String(err);
    process.emitWarning(
      `tidemark: ${kind} observer ${hook} threw: ${message} (ignored; reported once per observer and hook)`,
    );
  }
}
