import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // LMDB environments and child processes: keep files from fighting over 2 cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
