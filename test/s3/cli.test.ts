// The tidemark CLI with --checkpoints s3://bucket/prefix, configured by the
// standard AWS variables, against the real server.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { CheckpointRepository, StateStore } from '../../src/index.js';
import { checkpointNow, fill, openStore, rawState } from '../checkpoint/support.js';
import { tidemark } from '../cli/support.js';
import { tmpDir } from '../helpers/tmp.js';
import { s3Server, s3Storage } from './support.js';

const A0 = { topic: 'orders', partition: 0 };

function awsEnv(): NodeJS.ProcessEnv {
  const s = s3Server();
  return {
    AWS_ENDPOINT_URL: s.endpoint,
    AWS_REGION: s.region,
    AWS_ACCESS_KEY_ID: s.accessKey,
    AWS_SECRET_ACCESS_KEY: s.secretKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

describe('tidemark CLI on S3', () => {
  it('lists, verifies, restores and prunes s3://bucket/prefix', async () => {
    const { storage, bucket } = await s3Storage({ prefix: 'team/orders' });
    const repo = new CheckpointRepository({ storage });
    const store = await openStore();
    await fill(store, A0, 30, 10);
    const first = await checkpointNow(store, repo);
    await fill(store, A0, 40, 20, 'v2');
    const second = await checkpointNow(store, repo);
    await repo.close();
    const url = `s3://${bucket}/team/orders`;

    const list = await tidemark(['list', '--checkpoints', url, '--json'], awsEnv());
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.json().checkpoints.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      [second.id, 'valid'],
      [first.id, 'valid'],
    ]);
    expect(list.json().location).toBe(url);

    const verify = await tidemark(['verify', '--checkpoints', url], awsEnv());
    expect(verify.code).toBe(0);

    const target = path.join(tmpDir('s3cli'), 'state');
    const restore = await tidemark(['restore', '--checkpoints', url, '--state', target], awsEnv());
    expect(restore.code).toBe(0);
    const restored = await StateStore.open({ path: target });
    try {
      expect(await rawState(restored, A0)).toEqual(await rawState(store, A0));
    } finally {
      await restored.close();
    }

    const prune = await tidemark(['prune', '--checkpoints', url, '--keep', '1', '--json'], awsEnv());
    expect(prune.code).toBe(0);
    expect(prune.json().deleted).toEqual([first.id]);
    expect((await storage.list('')).every((o) => o.key.startsWith(`${second.id}/`))).toBe(true);
  });

  it('a missing bucket is one clear line and a failure exit code; a malformed URL is a usage error', async () => {
    const r = await tidemark(['list', '--checkpoints', 's3://tm-no-such-bucket-here/x'], awsEnv());
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^tidemark: .*NoSuchBucket.*the bucket does not exist/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await tidemark(['list', '--checkpoints', 's3://Bad_Bucket/x'], awsEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bucket/);
  });
});
