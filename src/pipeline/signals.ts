/**
 * Opt-in (`handleSignals: true`): on the first SIGTERM or SIGINT, removes
 * both handlers, runs `stop`, then raises the same signal again so the
 * process ends as it would have without them. Returns the remover (internal).
 */
export function installSignalHandlers(stop: () => Promise<void>): () => void {
  const installed: Array<[NodeJS.Signals, () => void]> = [];
  const remove = (): void => {
    for (const [signal, handler] of installed.splice(0)) process.removeListener(signal, handler);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const handler = (): void => {
      remove();
      void stop()
        .catch(() => undefined)
        .finally(() => process.kill(process.pid, signal));
    };
    process.once(signal, handler);
    installed.push([signal, handler]);
  }
  return remove;
}
