import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // LMDB environments and child processes: keep files from fighting over 2 cores.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/kafka/**', 'test/s3/**'],
        },
      },
      {
        // Against a real Kafka broker: the global setup starts one (or uses
        // KAFKA_BROKERS) and fails the run if it cannot. docs/DEVELOPMENT.md.
        // The group chaos tests (*.chaos.test.ts) are in it too.
        extends: true,
        test: {
          name: 'kafka',
          include: ['test/kafka/**/*.test.ts'],
          globalSetup: ['test/kafka/global-setup.ts'],
        },
      },
      {
        // Against a real S3 server (versitygw), started by the global setup;
        // one that cannot start fails the run. docs/DEVELOPMENT.md.
        extends: true,
        test: {
          name: 's3',
          include: ['test/s3/**/*.test.ts'],
          globalSetup: ['test/s3/global-setup.ts'],
          // The AWS SDK's once-per-process notice that its 2027 releases need Node 22.
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        },
      },
    ],
  },
});
