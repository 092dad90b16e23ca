import { compareTopicPartitions, type TopicPartition, formatTopicPartition } from '../util/topic-partition.js';
import type {
  Backend,
  BackendSnapshot,
  PartitionStaging,
  PartitionWrite,
  RawEntry,
  RawRange,
  RestoreRecord,
} from './backend.js';

type PartitionData = Map<string, Buffer>; // latin1(encoded key) -> encoded value

interface Partition {
  tp: TopicPartition;
  data: PartitionData;
  offset: string | undefined;
}

/**
 * In-memory persistence with the LMDB backend's semantics (values are copied
 * at commit, so later mutation of a cached object does not leak into
 * committed state). Nothing survives the process. For tests and stateless
 * deployments.
 */
export class MemoryBackend implements Backend {
  readonly persistent = false;
  schemaVersion: number | undefined = undefined;
  private partitionsByKey = new Map<string, Partition>();

  get(tp: TopicPartition, key: Buffer): Buffer | undefined {
    return this.partitionsByKey.get(formatTopicPartition(tp))?.data.get(key.toString('latin1'));
  }

  *range(tp: TopicPartition, range: RawRange): Iterable<RawEntry> {
    const p = this.partitionsByKey.get(formatTopicPartition(tp));
    if (p === undefined) return;
    yield* sortedRange(p.data, range);
  }

  entryCount(tp: TopicPartition): number {
    return this.partitionsByKey.get(formatTopicPartition(tp))?.data.size ?? 0;
  }

  partitions(): TopicPartition[] {
    return [...this.partitionsByKey.values()].map((p) => p.tp).sort(compareTopicPartitions);
  }

  offset(tp: TopicPartition): string | undefined {
    return this.partitionsByKey.get(formatTopicPartition(tp))?.offset;
  }

  write(writes: readonly PartitionWrite[]): void {
    // Encode everything first: a value that throws leaves nothing applied.
    const changes = writes.map((w) => {
      const out: Array<[string, Buffer | null]> = [];
      for (let i = 0; i < w.size; i++) {
        const v = w.value(i);
        out.push([w.key(i).toString('latin1'), v === null ? null : Buffer.from(v)]);
      }
      return out;
    });
    writes.forEach((w, i) => {
      const p = this.partition(w.tp);
      for (const [k, v] of changes[i]!) {
        if (v === null) p.data.delete(k);
        else p.data.set(k, v);
      }
      if (w.offset !== undefined) p.offset = w.offset;
    });
  }

  replacePartition(tp: TopicPartition, entries: Iterable<RawEntry>, offset: string | undefined): void {
    const data: PartitionData = new Map();
    for (const e of entries) data.set(e.key.toString('latin1'), Buffer.from(e.value));
    this.partitionsByKey.set(formatTopicPartition(tp), {
      tp: { topic: tp.topic, partition: tp.partition },
      data,
      offset,
    });
  }

  stagePartition(tp: TopicPartition): PartitionStaging {
    const data: PartitionData = new Map();
    const staging: MemoryStaging = {
      tp: { topic: tp.topic, partition: tp.partition },
      data,
      keepsRecordViews: false, // keys become strings, values are copied
      apply: (records: Iterable<RestoreRecord>) => {
        for (const r of records) {
          const k = r.key.toString('latin1');
          if (r.value === null) data.delete(k);
          else data.set(k, Buffer.from(r.value));
        }
      },
      abort: () => data.clear(),
    };
    return staging;
  }

  commitStaged(items: ReadonlyArray<{ staging: PartitionStaging; offset: string | undefined }>): void {
    for (const { staging, offset } of items) {
      const s = staging as MemoryStaging;
      this.partitionsByKey.set(formatTopicPartition(s.tp), { tp: { ...s.tp }, data: s.data, offset });
    }
  }

  dropPartition(tp: TopicPartition): void {
    this.partitionsByKey.delete(formatTopicPartition(tp));
  }

  migrate(toVersion: number, transform: (tp: TopicPartition, entry: RawEntry) => Buffer | null): void {
    // Build the new state aside; swap it in only when every value migrated.
    const next = new Map<string, Partition>();
    for (const [k, p] of this.partitionsByKey) {
      const data: PartitionData = new Map();
      for (const [key, value] of p.data) {
        const out = transform(p.tp, { key: Buffer.from(key, 'latin1'), value });
        if (out !== null) data.set(key, Buffer.from(out));
      }
      next.set(k, { tp: p.tp, data, offset: p.offset });
    }
    this.partitionsByKey = next;
    this.schemaVersion = toVersion;
  }

  initSchema(version: number): void {
    this.schemaVersion = version;
  }

  snapshot(): BackendSnapshot {
    // Partition maps are replaced, never mutated, by replace/drop; writes
    // mutate them, so copy each one.
    const frozen = new Map<string, Partition>();
    for (const [k, p] of this.partitionsByKey) frozen.set(k, { tp: p.tp, data: new Map(p.data), offset: p.offset });
    const schemaVersion = this.schemaVersion ?? 0;
    return {
      schemaVersion,
      partitions: () => [...frozen.values()].map((p) => p.tp).sort(compareTopicPartitions),
      offset: (tp) => frozen.get(formatTopicPartition(tp))?.offset,
      entryCount: (tp) => frozen.get(formatTopicPartition(tp))?.data.size ?? 0,
      get: (tp, key) => {
        const v = frozen.get(formatTopicPartition(tp))?.data.get(key.toString('latin1'));
        return v === undefined ? undefined : Buffer.from(v);
      },
      entries: (tp) => {
        const p = frozen.get(formatTopicPartition(tp));
        return p === undefined ? [] : sortedRange(p.data, {});
      },
      transientEntries: (tp) => {
        const p = frozen.get(formatTopicPartition(tp));
        return p === undefined ? [] : sortedRange(p.data, {});
      },
      release: () => frozen.clear(),
    };
  }

  async close(): Promise<void> {
    await Promise.resolve();
  }

  private partition(tp: TopicPartition): Partition {
    const k = formatTopicPartition(tp);
    let p = this.partitionsByKey.get(k);
    if (p === undefined) {
      p = { tp: { topic: tp.topic, partition: tp.partition }, data: new Map(), offset: undefined };
      this.partitionsByKey.set(k, p);
    }
    return p;
  }
}

function* sortedRange(data: PartitionData, range: RawRange): Iterable<RawEntry> {
  // latin1 strings compare exactly like the bytes they hold.
  const lo = range.start?.toString('latin1');
  const hi = range.end?.toString('latin1');
  const keys = [...data.keys()].filter((k) => (lo === undefined || k >= lo) && (hi === undefined || k < hi)).sort();
  if (range.reverse) keys.reverse();
  for (const k of keys) {
    const value = data.get(k);
    if (value !== undefined) yield { key: Buffer.from(k, 'latin1'), value: Buffer.from(value) };
  }
}
interface MemoryStaging extends PartitionStaging {
  data: PartitionData;
}
