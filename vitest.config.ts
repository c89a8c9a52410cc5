import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two files at once: most of a test's time is spent waiting on peers (XRootD, PostgreSQL, Rucio, Chromium),
    // and the tests wait for conditions, so a loaded machine slows them but does not fail them
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
})
