// S3 figures, against a real S3 server (versitygw over a local directory,
// started here by scripts/s3/s3.mjs): checkpoint write and restore through
// S3CheckpointStorage against the same SDK putting and getting the same bytes
// as plain objects, and the storage layer alone (multipart streaming against
// one PutObject / GetObject of the same bytes). Same run, alternating.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startServer } from '../scripts/s3/s3.mjs';
import {
  CheckpointRepository,
  LocalDirectoryStorage,
  S3CheckpointStorage,
  StateStore,
  type TopicPartition,
} from '../src/index.js';
import type { RawEntry } from '../src/state/backend.js';
import { ScopeCodec } from '../src/state/key-codec.js';
import { encodeValue } from '../src/state/value-codec.js';
import { alternate, figure, type BenchContext, type BenchResult } from './lib/result.js';

const PARTITIONS = 4;
const WORDS = ['view', 'click', 'search', 'cart', 'checkout', 'login', 'logout', 'scroll', 'share', 'like'];

export async function run(ctx: BenchContext): Promise<BenchResult[]> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const server = await startServer({ dir: path.join(ctx.workDir, 's3') });
  try {
    return await measure(ctx, server);
  } finally {
    await server.stop();
  }
}

async function measure(ctx: BenchContext, server: Awaited<ReturnType<typeof startServer>>): Promise<BenchResult[]> {
  const n = ctx.quick ? 20_000 : 100_000;
  const rounds = ctx.quick ? 2 : 5;
  const storage = new S3CheckpointStorage({
    bucket: 'bench',
    prefix: 'ck',
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
  });
  const client = storage.client;
  await client.send(new CreateBucketCommand({ Bucket: 'bench' }));

  // Sessions of ~1 KB, as in checkpoint.bench.ts.
  const store = await StateStore.open({
    path: path.join(ctx.workDir, 's3-state'),
    cacheEntries: 1000,
    sweepIntervalMs: 0,
  });
  const tps: TopicPartition[] = Array.from({ length: PARTITIONS }, (_, p) => ({ topic: 'events', partition: p }));
  const codec = new ScopeCodec('');
  const noise = randomBytes(1 << 20);
  const per = Math.ceil(n / PARTITIONS);
  for (const tp of tps) {
    function* entries(): Iterable<RawEntry> {
      for (let j = 0; j < per; j++) {
        const i = tp.partition * per + j;
        const events = [];
        for (let k = 0; k < 24; k++)
          events.push({ t: 1_700_000_000_000 + i * 13 + k * 977, e: WORDS[(i * 31 + k) % 10], n: (i * k) % 1000 });
        const o = (i * 7919) % (noise.length - 16);
        yield {
          key: codec.encode(`user-${String(i).padStart(8, '0')}`),
          value: encodeValue({ user: `u${i % 50_000}`, count: i % 97, events, salt: noise.subarray(o, o + 16) }, 0, 0),
        };
      }
    }
    await store.replacePartition(tp, entries(), String(per));
  }
  const repo = new CheckpointRepository({ storage, compressionLevel: 1 });
  const localRepo = new CheckpointRepository({
    storage: new LocalDirectoryStorage({ path: path.join(ctx.workDir, 's3-local-ck') }),
    compressionLevel: 1,
  });
  const target = await StateStore.open({
    path: path.join(ctx.workDir, 's3-target'),
    cacheEntries: 1000,
    sweepIntervalMs: 0,
  });
  try {
    // One checkpoint to learn the stored objects (their bytes are the baselines' payload).
    const snap = await store.snapshot();
    const first = await repo.write(snap).finally(() => snap.release());
    const objects = await storage.list(`${first!.id}/`);
    const payload = await Promise.all(objects.map(async (o) => ({ key: o.key, bytes: await storage.read(o.key) })));
    const storedMB = payload.reduce((s, p) => s + p.bytes.length, 0) / 1e6;
    const rawMB = first!.rawBytes / 1e6;
    ctx.log(
      `s3: ${n} entries, ${rawMB.toFixed(1)} MB raw, ${storedMB.toFixed(1)} MB stored in ${payload.length} objects`,
    );

    let seq = 0;
    const putPlain = async (): Promise<number> => {
      const t = performance.now();
      const run = seq++;
      for (const p of payload)
        await client.send(new PutObjectCommand({ Bucket: 'bench', Key: `plain/${run}/${p.key}`, Body: p.bytes }));
      return performance.now() - t;
    };
    const getPlain = async (): Promise<number> => {
      const t = performance.now();
      for (const p of payload) {
        const res = await client.send(new GetObjectCommand({ Bucket: 'bench', Key: `plain/0/${p.key}` }));
        await res.Body!.transformToByteArray();
      }
      return performance.now() - t;
    };
    const writeCheckpoint = async (): Promise<number> => {
      const s = await store.snapshot();
      const t = performance.now();
      try {
        await repo.write(s);
      } finally {
        s.release();
      }
      return performance.now() - t;
    };
    const localFirst = await (async () => {
      const sn = await store.snapshot();
      return localRepo.write(sn).finally(() => sn.release());
    })();
    const writeLocal = async (): Promise<number> => {
      const sn = await store.snapshot();
      const t = performance.now();
      try {
        await localRepo.write(sn);
      } finally {
        sn.release();
      }
      return performance.now() - t;
    };
    const restoreLocal = async (): Promise<number> => {
      const t = performance.now();
      await localRepo.restore(target, { id: localFirst!.id });
      return performance.now() - t;
    };
    const restore = async (): Promise<number> => {
      const t = performance.now();
      await repo.restore(target, { id: first!.id });
      return performance.now() - t;
    };
    const putStorage = async (): Promise<number> => {
      const t = performance.now();
      const run = seq++;
      for (const p of payload) {
        const w = await storage.create(`layer/${run}/${p.key}`);
        for (let off = 0; off < p.bytes.length; off += 1 << 20) await w.write(p.bytes.subarray(off, off + (1 << 20)));
        await w.commit();
      }
      return performance.now() - t;
    };
    const getStorage = async (): Promise<number> => {
      const t = performance.now();
      for (const p of payload) for await (const chunk of storage.readChunks(p.key)) void chunk;
      return performance.now() - t;
    };

    const w = await alternate(rounds, writeCheckpoint, putPlain);
    const r = await alternate(rounds, restore, getPlain);
    const vw = await alternate(rounds, writeCheckpoint, writeLocal);
    const vr = await alternate(rounds, restore, restoreLocal);
    const lw = await alternate(rounds, putStorage, putPlain);
    const lr = await alternate(rounds, getStorage, getPlain);
    const label = `${n.toLocaleString('en-US')} entries of ~1 KB (${storedMB.toFixed(0)} MB stored)`;
    const mbps = (mb: number, ms: number) => mb / (ms / 1000);
    return [
      figure(
        `s3: checkpoint write throughput (zstd 1, stored bytes), ${label}`,
        mbps(storedMB, w.subject),
        'MB/s',
        mbps(storedMB, w.baseline),
        'SDK PutObject of the same bytes as plain objects',
        true,
        { ratioAtLeast: 0.8 },
      ),
      figure(
        `s3: checkpoint restore throughput (read+verify+decode+LMDB, stored bytes), ${label}`,
        mbps(storedMB, r.subject),
        'MB/s',
        mbps(storedMB, r.baseline),
        'SDK GetObject of the same bytes',
        true,
        { ratioAtLeast: 0.8 },
      ),
      figure(
        `s3: storage layer write (multipart, 8 MiB parts), ${label}`,
        mbps(storedMB, lw.subject),
        'MB/s',
        mbps(storedMB, lw.baseline),
        'SDK PutObject of the same bytes',
        true,
        { ratioAtLeast: 0.8 },
      ),
      figure(
        `s3: storage layer read (readChunks), ${label}`,
        mbps(storedMB, lr.subject),
        'MB/s',
        mbps(storedMB, lr.baseline),
        'SDK GetObject of the same bytes',
        true,
        { ratioAtLeast: 0.8 },
      ),
      figure(
        `s3: checkpoint write throughput against the local directory, ${label}`,
        mbps(rawMB, vw.subject),
        'MB/s raw',
        mbps(rawMB, vw.baseline),
        'same checkpoint to LocalDirectoryStorage',
        true,
      ),
      figure(
        `s3: checkpoint restore throughput against the local directory, ${label}`,
        mbps(rawMB, vr.subject),
        'MB/s raw',
        mbps(rawMB, vr.baseline),
        'same restore from LocalDirectoryStorage',
        true,
      ),
      figure(
        `s3: checkpoint write throughput (raw state bytes), ${label}`,
        mbps(rawMB, w.subject),
        'MB/s',
        mbps(storedMB, w.baseline),
        'SDK PutObject of the stored bytes (MB/s of those)',
        true,
      ),
    ];
  } finally {
    await repo.close();
    await localRepo.close();
    await store.close();
    await target.close();
    client.destroy();
  }
}
