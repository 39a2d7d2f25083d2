import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { removeDeveloperSettings } from './test/support/developer-environment.js';

// Before any worker or child process inherits the environment: the developer's NANGO_*, LOG_*, PG* … settings
// never reach a spec (each sets what it needs), and spawned servers run in an empty folder, away from ./.env.
removeDeveloperSettings(process.env);

/** The run's own temporary folder (the test PostgreSQL, fixtures' files), removed when the run ends. */
const scratchRoot = path.join(os.tmpdir(), `custody-test-run-${process.pid}`);
/** Where the specs' fixtures note secrets and logs for the final search (test/support/secret-watch.ts). */
const secretWatchDir = path.join(scratchRoot, 'secret-watch');

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file per core, at least two and at most four: each file owns its own database and many start server
    // processes, so more would crowd the test PostgreSQL's 200 connections; on two cores, two keeps it responsive.
    maxWorkers: Math.min(4, Math.max(2, os.availableParallelism())),
    provide: { scratchRoot, secretWatchDir },
    projects: [
      {
        extends: true,
        test: {
          name: 'specs',
          include: ['test/**/*.test.ts'],
          exclude: ['test/secrets-never-logged.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // After every spec has finished: searches all the logs the specs' servers wrote for every secret they saw.
        extends: true,
        test: { name: 'secrets-never-logged', include: ['test/secrets-never-logged.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
