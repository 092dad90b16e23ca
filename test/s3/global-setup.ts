// Global setup of the "s3" test project: a real S3 server (versitygw over a
// temporary directory, on a free loopback port) started by
// scripts/s3/s3.mjs, which builds it with `go install` when it is not cached.
// A server that cannot be had fails the run; there is no skip mode.
import type { TestProject } from 'vitest/node';
import { startServer } from '../../scripts/s3/s3.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 server the s3 tests run against. */
    s3: { endpoint: string; root: string; accessKey: string; secretKey: string; region: string };
  }
}

const HOW_TO = `The s3 tests (test/s3/**) need a real S3 server: versitygw v1.8.0, which
scripts/s3/s3.mjs builds with Go (go install, about 2 minutes, cached in .s3/bin).
Install Go 1.24+ and rerun, or: node scripts/s3/s3.mjs install
See docs/DEVELOPMENT.md, "S3 server for tests".`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  try {
    const s = await startServer();
    project.provide('s3', {
      endpoint: s.endpoint,
      root: s.root,
      accessKey: s.accessKey,
      secretKey: s.secretKey,
      region: s.region,
    });
    return s.stop;
  } catch (e) {
    throw new Error(`No S3 server could be started for the s3 tests:\n${(e as Error).message}\n\n${HOW_TO}`);
  }
}
