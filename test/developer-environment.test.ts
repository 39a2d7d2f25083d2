import { describe, expect, it } from 'vitest';
import { isDeveloperSetting } from './support/developer-environment.js';

/**
 * `npm test` in a clone someone also runs the server from: their .env and their shell's NANGO_* variables
 * change nothing. (.ci/run proves it for a few representative spec files with a hostile .env and shell.)
 */
describe("the developer's own environment", () => {
  it('never reaches a spec: no server setting, PostgreSQL client default or HTTP proxy of the shell is left', () => {
    expect(Object.keys(process.env).filter(isDeveloperSetting)).toEqual([]);
  });

  it.each(['NANGO_SECRET_KEY', 'NANGO_DATABASE_URL', 'LOG_FORMAT', 'LOG_LEVEL', 'SERVER_HOST', 'HOST', 'PORT', 'SERVER_PORT', 'DATABASE_URL', 'TEST_DATABASE_URL', 'PGHOST', 'PGSSLMODE', 'https_proxy', 'CUSTODY_INIT_SOURCE_DIR'])(
    'counts %s as a setting the suite removes',
    (name) => expect(isDeveloperSetting(name)).toBe(true),
  );

  it.each(['PATH', 'HOME', 'CHROMIUM_PATH', 'TMPDIR'])('keeps %s', (name) => expect(isDeveloperSetting(name)).toBe(false));
});
