// Pipeline figures on a real Kafka broker (KAFKA_BROKERS, or one started for
// the run): stateful pipeline throughput against a bare kafkajs eachBatch
// consumer doing the same decoding work, and with periodic checkpoints on
// against off.
import * as path from 'node:path';
import { CheckpointRepository, KafkaSource, LocalDirectoryStorage } from '../src/index.js';
import { logLevel } from 'kafkajs';
import { bareKafkajs, fillTopic, timedPipeline, withBrokers } from './lib/kafka-bench.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  return withBrokers(ctx, 'pipeline', (brokers) => measure(ctx, brokers));
}

async function measure(ctx: BenchContext, brokers: string[]): Promise<BenchResult[]> {
  const N = ctx.quick ? 20_000 : 1_000_000;
  const topic = `bench-${Date.now()}`;
  await fillTopic(brokers, topic, PARTITIONS, N);
  ctx.log(`produced ${N} records to ${topic} (${PARTITIONS} partitions)`);

  let runNo = 0;
  const bare = async () => (await bareKafkajs(brokers, topic, `bench-bare-${Date.now()}-${runNo++}`, N)).fromFirst;
  const tidemark = (checkpoints: boolean, commitRecords?: number) => () =>
    pipeline(ctx, brokers, topic, `bench-tm-${Date.now()}-${runNo++}`, N, checkpoints, commitRecords);
  const rounds = ctx.quick ? 1 : 3;
  const vsBare = await alternate(rounds, tidemark(false), bare);
  const frequent = await alternate(rounds, tidemark(false, 1000), bare);
  const ckpt = await alternate(rounds, tidemark(true), tidemark(false));
  const rate = (ms: number) => N / (ms / 1000);
  ctx.log(`pipeline ${rate(vsBare.subject).toFixed(0)}/s, bare kafkajs ${rate(vsBare.baseline).toFixed(0)}/s`);
  ctx.log(
    `pipeline committing every 1,000 records ${rate(frequent.subject).toFixed(0)}/s, bare kafkajs ${rate(frequent.baseline).toFixed(0)}/s`,
  );
  ctx.log(`with checkpoints ${rate(ckpt.subject).toFixed(0)}/s, without ${rate(ckpt.baseline).toFixed(0)}/s`);
  const bareName = 'bare kafkajs eachBatch, same decoding into a Map';
  return [
    figure(
      'pipeline: stateful throughput (LMDB state, default commits: 50,000 records or 1 s)',
      rate(vsBare.subject),
      'records/s',
      rate(vsBare.baseline),
      bareName,
      true,
      { ratioAtLeast: 0.8 },
    ),
    figure(
      'pipeline: stateful throughput committing every 1,000 records',
      rate(frequent.subject),
      'records/s',
      rate(frequent.baseline),
      bareName,
      true,
    ),
    figure(
      'pipeline: throughput with checkpoints every second',
      rate(ckpt.subject),
      'records/s',
      rate(ckpt.baseline),
      'same pipeline, checkpoints off',
      true,
    ),
  ];
}

// From the first record to the last, as this benchmark always measured.
async function pipeline(
  ctx: BenchContext,
  brokers: string[],
  topic: string,
  groupId: string,
  n: number,
  checkpoints: boolean,
  commitRecords?: number,
): Promise<number> {
  const dir = path.join(ctx.workDir, groupId);
  const t = await timedPipeline(
    ctx,
    new KafkaSource({
      kafka: { clientId: 'tidemark-bench', brokers, logLevel: logLevel.NOTHING },
      groupId,
      topics: [topic],
    }), // the source's default consumer settings
    groupId,
    n,
    {
      ...(commitRecords === undefined ? {} : { commitInterval: { records: commitRecords } }),
      ...(checkpoints
        ? {
            checkpoints: {
              repository: new CheckpointRepository({
                storage: new LocalDirectoryStorage({ path: path.join(dir, 'checkpoints') }),
              }),
              coordinator: { intervalMs: 1000, minPauseMs: 0 },
            },
          }
        : {}),
    },
  );
  return t.fromFirst;
}
