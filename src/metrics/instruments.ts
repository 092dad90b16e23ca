import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ConfigError } from '../errors/config-error.js';

/** Labels of per-partition series. The only unbounded labels any metric has. */
export type PartitionLabel = 'topic' | 'partition';

// Seconds. A batch or a commit is ms to s; a checkpoint or a recovery s to minutes.
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SLOW_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Pull-time refreshers the instruments call from prom-client's collect(). */
export interface Collectors {
  /** Reads the tracked stores (at most once per scrape). */
  stores(): void;
  /** Reads readiness, assignment and checkpoint health from the tracked pipelines. */
  pipelines(): void;
}

/**
 * Every tidemark metric under one prefix, not yet registered anywhere (see
 * {@link registerInstruments}). The names and types here are the contract
 * docs/METRICS.md documents; a test holds the two together.
 */
export function createInstruments(prefix: string, collect: Collectors) {
  const registers: Registry[] = [];
  const tp = ['topic', 'partition'] as const;
  const counter = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    fromStore = false,
  ) =>
    new Counter<L>({
      name: prefix + name,
      help,
      labelNames,
      registers,
      ...(fromStore ? { collect: () => collect.stores() } : {}),
    });
  const gauge = <L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    pull?: () => void,
  ) => new Gauge<L>({ name: prefix + name, help, labelNames, registers, ...(pull ? { collect: pull } : {}) });
  const histogram = <L extends string = never>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly L[] = [],
  ) => new Histogram<L>({ name: prefix + name, help, labelNames, buckets, registers });
  const stores = (): void => collect.stores();
  const pipelines = (): void => collect.pipelines();

  return {
    // pipeline
    recordsProcessed: counter(
      'records_processed_total',
      'Records applied to the state (dead-lettered ones included).',
      tp,
    ),
    batchDuration: histogram(
      'batch_duration_seconds',
      'Time to apply one batch of records, commits inside it included.',
      FAST_BUCKETS,
      ['topic'],
    ),
    commits: counter('commits_total', 'Commits of state and next offsets, by result.', ['result']),
    commitDuration: histogram(
      'commit_duration_seconds',
      'Duration of a successful commit of state and offsets (durable on disk).',
      FAST_BUCKETS,
    ),
    commitEntries: counter('commit_entries_total', 'Changed entries written by successful commits.'),
    sourceCommitFailures: counter(
      'source_commit_failures_total',
      'Offset commits the source (Kafka group) refused; the state stays durable regardless.',
    ),
    handlerFailures: counter('handler_failures_total', 'Failed handler attempts (each retry counts).', tp),
    deadLettered: counter('dead_lettered_records_total', 'Records handed to the dead-letter callback and skipped.', tp),
    pipelineFailures: counter('pipeline_failures_total', 'Pipelines that stopped on an error.'),
    offsetGaps: counter(
      'offset_gaps_total',
      "Gaps accepted (onGap: 'accept'): a partition's state was below its log's start, records deleted before they were processed.",
    ),
    offsetGapRecords: counter(
      'offset_gap_records_total',
      'Records lost in accepted gaps: deleted before they were processed.',
    ),
    recoveries: counter(
      'partition_recoveries_total',
      'Partition recoveries on assignment, by where the state came from.',
      ['topic', 'partition', 'source'] as const,
    ),
    recoveryDuration: histogram(
      'partition_recovery_duration_seconds',
      'Time to recover one assigned partition, by source.',
      SLOW_BUCKETS,
      ['source'],
    ),
    recoverySkipped: counter(
      'recovery_skipped_checkpoints_total',
      'Checkpoints passed over while recovering a partition (failed verification or vanished).',
    ),
    rebalances: counter(
      'rebalances_total',
      "Changes to this consumer's assignment: a rebalance that gave it partitions counts as assigned, one that took some as revoked.",
      ['change'],
    ),
    assignedPartitions: gauge('assigned_partitions', 'Partitions this consumer owns now.', [], pipelines),
    lag: gauge(
      'consumer_lag',
      "Records between a partition's next offset and the end of its log, as of its last batch.",
      tp,
    ),
    ready: gauge('ready', '1 once every assigned partition has recovered, else 0.', [], pipelines),
    stalledPartitions: gauge(
      'stalled_partitions',
      'Recovered partitions with records waiting and no batch for stallAfterMs: they cannot make progress.',
      [],
      pipelines,
    ),
    // state store
    stateEntries: gauge(
      'state_entries',
      'Committed entries in the partition state (expired ones not yet swept included).',
      tp,
      stores,
    ),
    stateCachedEntries: gauge(
      'state_cached_entries',
      'Entries held decoded in the hot cache, clean and dirty.',
      [],
      stores,
    ),
    stateDirtyEntries: gauge('state_dirty_entries', 'Entries changed since the last commit.', [], stores),
    stateGets: counter('state_gets_total', 'State reads.', tp, true),
    statePuts: counter('state_puts_total', 'State writes.', tp, true),
    stateDeletes: counter('state_deletes_total', 'State deletes.', tp, true),
    cacheHits: counter('state_cache_hits_total', 'Reads served from the hot cache.', tp, true),
    cacheMisses: counter('state_cache_misses_total', "Reads that went to LMDB's memory map.", tp, true),
    cacheEvictions: counter(
      'state_cache_evictions_total',
      'Clean entries dropped from the hot cache to respect its bound.',
      tp,
      true,
    ),
    expirations: counter(
      'state_expirations_total',
      'Entries found expired (TTL) and removed, on read or by the sweep.',
      tp,
      true,
    ),
    // checkpoints
    checkpoints: counter('checkpoints_total', 'Checkpoints attempted, by what started them and result.', [
      'trigger',
      'result',
    ]),
    checkpointDuration: histogram(
      'checkpoint_duration_seconds',
      'Checkpoint duration, from the snapshot to the manifest in place, by result.',
      SLOW_BUCKETS,
      ['result'],
    ),
    checkpointInProgress: gauge('checkpoint_in_progress', '1 while a checkpoint is being written.', [], pipelines),
    checkpointRawBytes: gauge(
      'checkpoint_raw_bytes',
      'Uncompressed size of the state in the last completed checkpoint.',
      [],
      pipelines,
    ),
    checkpointStoredBytes: gauge(
      'checkpoint_stored_bytes',
      'Size of the last completed checkpoint as stored (compressed, manifest included).',
      [],
      pipelines,
    ),
    checkpointEntries: gauge('checkpoint_entries', 'Entries in the last completed checkpoint.', [], pipelines),
    checkpointSegments: counter(
      'checkpoint_segments_total',
      'Partition segments of completed checkpoints, by kind: full, or delta (changes since a parent checkpoint).',
      ['kind'],
    ),
    checkpointIncremental: gauge(
      'checkpoint_incremental',
      '1 when the last completed checkpoint wrote at least one delta segment, 0 when every segment was full.',
      [],
      pipelines,
    ),
    checkpointChainLength: gauge(
      'checkpoint_chain_length',
      'Longest chain in the last completed checkpoint: deltas since their full segment (0: all full).',
      [],
      pipelines,
    ),
    checkpointLastSuccess: gauge(
      'checkpoint_last_success_timestamp_seconds',
      'When the last checkpoint succeeded, seconds since the epoch (0: none yet).',
      [],
      pipelines,
    ),
    checkpointConsecutiveFailures: gauge(
      'checkpoint_consecutive_failures',
      'Failed checkpoints since the last successful one.',
      [],
      pipelines,
    ),
    checkpointHealthy: gauge(
      'checkpoint_healthy',
      '0 once consecutive failures reach the unhealthy threshold, 1 otherwise.',
      [],
      pipelines,
    ),
    corruptCheckpoints: counter(
      'corrupt_checkpoints_total',
      'Checkpoints that failed verification, by whether they could be quarantined.',
      ['quarantined'],
    ),
    restoreDuration: histogram(
      'checkpoint_restore_duration_seconds',
      'Duration of a restore from checkpoints (verification included).',
      SLOW_BUCKETS,
    ),
    restoredPartitions: counter('checkpoint_restored_partitions_total', 'Partitions restored from checkpoints.'),
    restoreRecords: counter('restore_records_total', 'Records written to a restore staging from checkpoints.', tp),
    restoreBytes: counter('restore_bytes_total', 'Raw record bytes written to a restore staging from checkpoints.', tp),
    restoreRemainingRecords: gauge(
      'restore_remaining_records',
      'Records of the running restore of a partition not yet written; 0 when none runs.',
      tp,
    ),
    restoreRemainingBytes: gauge(
      'restore_remaining_bytes',
      'Raw record bytes of the running restore of a partition not yet written; 0 when none runs.',
      tp,
    ),
    restoreRate: gauge(
      'restore_rate_records_per_second',
      'Records per second of the running (else the last) restore of a partition.',
      tp,
    ),
    restoreTimeToReady: gauge(
      'restore_time_to_ready_seconds',
      'From the start of the last finished restore of a partition to its state swapped in.',
      tp,
    ),
    retentionRuns: counter('retention_runs_total', 'Retention passes after checkpoints, by result.', ['result']),
    retentionDeleted: counter(
      'retention_deleted_checkpoints_total',
      'Checkpoints deleted by retention (incomplete debris included).',
    ),
    storageRetries: counter(
      'checkpoint_storage_retries_total',
      'Object-storage (S3) requests retried after a transient failure, by operation and reason.',
      ['operation', 'reason'],
    ),
  };
}

/** The instruments of one {@link createInstruments} call. */
export type Instruments = ReturnType<typeof createInstruments>;

/**
 * Registers every instrument, or none: prom-client throws on a name
 * registered twice, which would leave half of them behind.
 */
export function registerInstruments(registry: Registry, m: Instruments): void {
  const metrics = Object.values(m);
  const taken = metrics.map((metric) => name(metric)).filter((n) => registry.getSingleMetric(n) !== undefined);
  if (taken.length > 0) {
    throw new ConfigError(
      `the registry already holds ${taken.join(', ')}: give each TidemarkMetrics its own Registry (the default) or another prefix`,
    );
  }
  for (const metric of metrics) registry.registerMetric(metric);
}

// prom-client's typings leave the name out; every metric has one.
function name(metric: Instruments[keyof Instruments]): string {
  return (metric as unknown as { name: string }).name;
}

/** Label values known in advance: their series start at 0, so rate() and absent() work from the first scrape. */
export function initializeKnownSeries(m: Instruments): void {
  for (const result of ['success', 'failure']) {
    m.commits.inc({ result }, 0);
    m.retentionRuns.inc({ result }, 0);
    for (const trigger of ['periodic', 'manual', 'stop', 'revoke']) m.checkpoints.inc({ trigger, result }, 0);
  }
  for (const change of ['assigned', 'revoked']) m.rebalances.inc({ change }, 0);
  for (const quarantined of ['true', 'false']) m.corruptCheckpoints.inc({ quarantined }, 0);
  for (const kind of ['full', 'delta']) m.checkpointSegments.inc({ kind }, 0);
}
