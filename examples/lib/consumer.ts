// What every Kafka example shares: configuration from the environment, a
// state store, checkpoints, metrics on /metrics, /healthz and /readyz, and a
// graceful stop on SIGTERM or SIGINT.
//
//   KAFKA_BROKERS   comma-separated, default 127.0.0.1:9092
//   TOPIC           the topic to consume
//   GROUP_ID        the consumer group
//   STATE_DIR       local state (LMDB), default ./data/<group>/state
//   CHECKPOINT_DIR  checkpoints, shared by the group's members, default ./data/<group>/checkpoints;
//                   or s3://bucket/prefix, with AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
//                   AWS_SECRET_ACCESS_KEY (path-style addressing for an IP or localhost endpoint)
//   METRICS_PORT    default 9464; 0 picks a free port
//   KAFKA_CLIENT    kafkajs (default) or platformatic; see ./source.ts
import * as path from 'node:path';
import {
  CheckpointRepository,
  isS3Url,
  LocalDirectoryStorage,
  Pipeline,
  s3StorageFromUrl,
  StateStore,
  TidemarkMetrics,
  type RecordHandler,
  type StateStoreOptions,
} from '../../src/index.js';
import { kafkaSource } from './source.js';

export interface ConsumerSettings {
  topic: string;
  groupId: string;
  handler: RecordHandler;
  /** Extra state store options (TTL, onExpired...). */
  store?: Omit<StateStoreOptions, 'path' | 'backend'>;
}

export async function runConsumer(settings: ConsumerSettings): Promise<Pipeline> {
  const env = process.env;
  const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim());
  const topic = env.TOPIC ?? settings.topic;
  const groupId = env.GROUP_ID ?? settings.groupId;
  const stateDir = env.STATE_DIR ?? path.join('data', groupId, 'state');
  const checkpointDir = env.CHECKPOINT_DIR ?? path.join('data', groupId, 'checkpoints');
  const metricsPort = Number(env.METRICS_PORT ?? 9464);

  const metrics = new TidemarkMetrics({ defaultMetrics: true });
  const store = await StateStore.open({ path: stateDir, ...settings.store });
  const repository = new CheckpointRepository({
    storage: isS3Url(checkpointDir)
      ? s3StorageFromUrl(checkpointDir, env, { onRetry: metrics.storageRetryObserver })
      : new LocalDirectoryStorage({ path: checkpointDir }),
    observer: metrics.checkpointObserver,
  });
  const pipeline = new Pipeline({
    source: kafkaSource(brokers, groupId, [topic]),
    store,
    handler: settings.handler,
    checkpoints: {
      repository,
      coordinator: { intervalMs: 60_000, retention: { keepLast: 3 }, observer: metrics.checkpointObserver },
    },
    // SIGTERM / SIGINT: finish the record in flight, commit, write a final
    // checkpoint, close the store, then end by the signal (the metrics
    // server goes with the process). A library does this only when asked.
    handleSignals: true,
    observers: [
      {
        recovered: (r) =>
          console.log(
            `recovered ${r.topic}:${r.partition} from ${r.source}${r.checkpointId ? ` ${r.checkpointId}` : ''}, resuming at ${r.offset ?? 'the earliest offset'}`,
          ),
        rebalanced: (c) => {
          if (c.assigned.length > 0)
            console.log(`assigned ${c.assigned.map((t) => `${t.topic}:${t.partition}`).join(', ')}`);
          if (c.revoked.length > 0)
            console.log(`revoked ${c.revoked.map((t) => `${t.topic}:${t.partition}`).join(', ')}`);
        },
        failed: (e) => console.error(`stopped on an error: ${e.message}`),
        waiting: (reason) => console.warn(reason),
        gap: (g) =>
          console.warn(
            `gap accepted in ${g.topic}:${g.partition}: ${g.records} record(s) deleted before they were processed; resuming at ${g.logStart}`,
          ),
        stalled: (partitions) =>
          console.warn(
            partitions.length === 0
              ? 'no partition is stalled any more'
              : `stalled: ${partitions.map((p) => `${p.topic}:${p.partition} at ${p.next ?? '?'} of ${p.logEnd}, no batch for ${Math.round(p.idleMs / 1000)} s`).join('; ')}`,
          ),
      },
    ],
  });
  metrics.instrument(pipeline);
  const server = await metrics.serve({ port: metricsPort });
  console.log(
    `consuming ${topic} as ${groupId}; state ${stateDir}; checkpoints ${checkpointDir}; metrics http://127.0.0.1:${server.port}/metrics`,
  );
  void pipeline.done
    .then(
      () => console.log('stopped: state committed, final checkpoint written'),
      (err: unknown) => {
        console.error(`failed: ${(err as Error).message}`);
        process.exitCode = 1;
      },
    )
    // Also how the process ends as a container's PID 1, where the signal the
    // pipeline re-raises is ignored: nothing is left in the event loop.
    .finally(() => void server.close());
  await pipeline.start();
  return pipeline;
}
