import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { welcomeNotices } from '../src/startup-notices.js';

/**
 * The lines after "Server listening": where the dashboard is and how to sign in, where the secret key came
 * from, and what to do next. (Real servers print them in test/logging.test.ts and test/startup-configuration.test.ts.)
 */
function lines(env: Record<string, string>, port = 3003, source?: Parameters<typeof welcomeNotices>[2]): string[] {
  return welcomeNotices(loadConfig(env), port, source).map((notice) => notice.message);
}

describe('the start-up lines for a newcomer', () => {
  it('name the dashboard at the port actually listened on, open without a secret key', () => {
    expect(lines({ SERVER_PORT: '0' }, 41234)[0]).toBe('Dashboard: http://localhost:41234/: open, no sign-in (see the NANGO_SECRET_KEY line above).');
  });

  it('say how to sign in with the secret key, and where the key came from, never the key', () => {
    const said = lines({ NANGO_SECRET_KEY: 'key-that-stays-secret' }, 3003, { from: 'file', path: '/srv/custody/.env' });
    expect(said[0]).toBe('Dashboard: http://localhost:3003/: sign in with any user name and the secret key as the password.');
    expect(said[1]).toMatch(/^The secret key is NANGO_SECRET_KEY from \/srv\/custody\/\.env\. /);
    expect(said.join('\n')).not.toContain('key-that-stays-secret');
  });

  it("say to sign in with the dashboard's own login when one is set", () => {
    const said = lines({ NANGO_SECRET_KEY: 'k'.repeat(32), NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'p'.repeat(20) }, 3003, { from: 'environment' });
    expect(said[0]).toBe('Dashboard: http://localhost:3003/: sign in as "admin" with NANGO_DASHBOARD_PASSWORD.');
    expect(said[1]).toMatch(/^The secret key is NANGO_SECRET_KEY from the environment\. /);
  });

  it('show the public URL first when NANGO_SERVER_URL sets one, and this machine\'s address beside it', () => {
    expect(lines({ NANGO_SERVER_URL: 'https://custody.example.com', SERVER_HOST: '0.0.0.0' }, 3003)[0]).toMatch(/^Dashboard: https:\/\/custody\.example\.com\/ \(on this machine: http:\/\/localhost:3003\/\): /);
  });

  it('end with the next step, naming the CLI under its own name', () => {
    expect(lines({}).at(-1)).toMatch(/^Next step: add an integration in the dashboard, or with the CLI \(custody integration:create <key> <provider>; docs\/cli\.md\), then connect an account through a connect session \(custody connect-session:create <end user id>\)\.$/);
  });
});
