// Applying a chain of delta segments to its full base, as one sorted stream.
import type { RawEntry } from '../state/backend.js';
import type { DeltaRecord } from './records.js';

/**
 * The entries of a partition after applying `deltas` (oldest first) to
 * `base`: the deltas are folded into one sorted set of changes (the newest
 * value of a key wins; a tombstone deletes), then merged with the base's
 * entries in one pass. `base` must be in strictly increasing key order (as a
 * verified segment is); the result is too. Memory: the deltas' records, not
 * the base's. `count.n` counts the entries yielded.
 */
export function* applyDeltas(
  base: Iterable<RawEntry>,
  deltas: ReadonlyArray<Iterable<DeltaRecord>>,
  count: { n: number } = { n: 0 },
): Generator<RawEntry> {
  const changes = new Map<string, Buffer | null>();
  for (const d of deltas) for (const r of d) changes.set(r.key.toString('latin1'), r.value);
  // latin1 strings compare exactly like the bytes they hold.
  const keys = [...changes.keys()].sort();
  let i = 0;
  let next = keys.length > 0 ? Buffer.from(keys[0]!, 'latin1') : undefined;
  const advance = (): void => {
    i++;
    next = i < keys.length ? Buffer.from(keys[i]!, 'latin1') : undefined;
  };
  for (const e of base) {
    let replaced = false;
    while (next !== undefined) {
      const c = Buffer.compare(next, e.key);
      if (c > 0) break;
      // A change before this base entry (a new key), or of it (a new value or a delete).
      const value = changes.get(keys[i]!)!;
      if (value !== null) {
        count.n++;
        yield { key: next, value };
      }
      replaced = c === 0;
      advance();
      if (replaced) break;
    }
    if (!replaced) {
      count.n++;
      yield e;
    }
  }
  for (; next !== undefined; advance()) {
    const value = changes.get(keys[i]!)!;
    if (value !== null) {
      count.n++;
      yield { key: next, value };
    }
  }
}
