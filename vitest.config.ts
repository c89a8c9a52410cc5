import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (p: string): string => fileURLToPath(new URL(`./src/${p}`, import.meta.url))

export default defineConfig({
  resolve: {
    // packages/* reach the product through its subpath exports: in tests, its sources (one copy of each module,
    // never a stale dist/); their own builds check them against the built exports
    alias: [
      { find: /^aso\/(storage|credentials|config|contract|stomp)$/, replacement: src('$1/index.ts') },
      { find: /^aso\/domain\/(.+)$/, replacement: src('domain/$1.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two files at once: most of a test's time is spent waiting on peers (XRootD, PostgreSQL, Rucio, Chromium),
    // and the tests wait for conditions, so a loaded machine slows them but does not fail them
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
})
