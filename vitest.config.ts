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
    // Two cores: two files at a time keeps the machine responsive; each file owns its own database.
    maxWorkers: 2,
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
