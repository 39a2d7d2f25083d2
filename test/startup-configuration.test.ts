import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { runServerToExit, startServer, type ExitedServer, type RunningServer } from './support/server-run.js';

/**
 * Configuration at start: every setting is an environment variable (or a line of `.env` in the working
 * directory), Nango's names and defaults; a bad value stops the server at once with one line naming it.
 */

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'custody-startup-config-'));
  chmodSync(scratch, 0o755);
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh, empty working directory (no `.env`), and a data directory inside it that must never be created. */
function emptyWorkingDirectory(): { cwd: string; dataDir: string } {
  const cwd = mkdtempSync(path.join(scratch, 'cwd-'));
  return { cwd, dataDir: path.join(cwd, 'nango-data-must-not-exist') };
}

/** Runs several refused starts a few at a time (each is a tsx start-up; the machine has two cores). */
type Refused = ExitedServer & { dataDir: string };

async function runAll(cases: Record<string, Record<string, string>>): Promise<(name: string) => Refused> {
  const results = new Map<string, Refused>();
  const queue = Object.entries(cases);
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [name, env] = next;
      const { cwd, dataDir } = emptyWorkingDirectory();
      results.set(name, { ...(await runServerToExit({ NANGO_DATA_DIR: dataDir, TELEMETRY: 'false', ...env }, { cwd, timeoutMs: 45_000 })), dataDir });
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return (name) => {
    const result = results.get(name);
    if (!result) throw new Error(`No run for "${name}".`);
    return result;
  };
}

function outputLines(exited: ExitedServer): string[] {
  return `${exited.stdout}${exited.stderr}`.split('\n').filter((line) => line.trim() !== '');
}

describe('a bad setting stops the server at once with one line naming the variable', () => {
  const CASES = {
    'non-numeric SERVER_PORT': { env: { SERVER_PORT: 'eighty' }, names: 'SERVER_PORT' },
    'non-numeric PORT (SERVER_PORT unset)': { env: { SERVER_PORT: '', PORT: '80a' }, names: 'PORT' },
    'SERVER_PORT out of range': { env: { SERVER_PORT: '70000' }, names: 'SERVER_PORT' },
    'NANGO_ENCRYPTION_KEY that is not base64': { env: { NANGO_ENCRYPTION_KEY: 'this is not base64!' }, names: 'NANGO_ENCRYPTION_KEY' },
    'NANGO_ENCRYPTION_KEY of 16 bytes': { env: { NANGO_ENCRYPTION_KEY: randomBytes(16).toString('base64') }, names: 'NANGO_ENCRYPTION_KEY' },
    'NANGO_HMAC_ENABLED=true without NANGO_HMAC_KEY': { env: { NANGO_HMAC_ENABLED: 'true' }, names: 'NANGO_HMAC_KEY' },
    'NANGO_DASHBOARD_USERNAME without the password': { env: { NANGO_DASHBOARD_USERNAME: 'admin' }, names: 'NANGO_DASHBOARD_PASSWORD' },
    'NANGO_DASHBOARD_PASSWORD without the user name': { env: { NANGO_DASHBOARD_PASSWORD: 'hunter2' }, names: 'NANGO_DASHBOARD_USERNAME' },
    'an unknown LOG_LEVEL': { env: { LOG_LEVEL: 'loud' }, names: 'LOG_LEVEL' },
    'a NANGO_DATABASE_URL that is not postgres://': { env: { NANGO_DATABASE_URL: 'mysql://nango:nango@127.0.0.1:3306/nango' }, names: 'NANGO_DATABASE_URL' },
    'a NANGO_SERVER_URL that is not a URL': { env: { NANGO_SERVER_URL: 'localhost:3003' }, names: 'NANGO_SERVER_URL' },
  } as const;
  type Case = keyof typeof CASES;
  let result: (name: string) => Refused;

  beforeAll(async () => {
    result = await runAll(Object.fromEntries(Object.entries(CASES).map(([name, { env }]) => [name, { ...env }])));
  }, 120_000);

  it.each(Object.keys(CASES) as Case[])('%s', (name) => {
    const exited = result(name);
    expect(exited.code).not.toBe(0);
    expect(exited.code).not.toBeNull();
    const lines = outputLines(exited);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Configuration error: /);
    expect(lines[0]).toContain(CASES[name].names);
    expect(exited.stderr.trim()).toBe(lines[0]);
    // Fast: it never got as far as starting a database.
    expect(existsSync(exited.dataDir)).toBe(false);
    expect(exited.durationMs).toBeLessThan(30_000);
  });
});

describe('a broken NANGO_PROVIDERS_FILE stops the start with a message naming the file', () => {
  const files = {
    'not YAML': 'github: {{ this is : not yaml',
    'an unknown key in an entry': 'github:\n  authorisation_url: https://example.com/auth\n',
    'an entry that is not a valid template': 'my-crm:\n  display_name: My CRM\n  auth_mode: OAUTH2\n',
    'an alias of a provider that does not exist': 'my-crm:\n  alias: no-such-provider\n',
  } as const;
  const paths = new Map<string, string>();
  let result: (name: string) => Refused;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(scratch, 'providers-'));
    paths.set('a file that does not exist', path.join(dir, 'missing-providers.yaml'));
    for (const [index, [name, text]] of Object.entries(files).entries()) {
      const file = path.join(dir, `overlay-${index}.yaml`);
      writeFileSync(file, text);
      paths.set(name, file);
    }
    result = await runAll(Object.fromEntries([...paths].map(([name, file]) => [name, { NANGO_PROVIDERS_FILE: file }])));
  }, 120_000);

  it.each([...Object.keys(files), 'a file that does not exist'])('%s', (name) => {
    const exited = result(name);
    expect(exited.code).not.toBe(0);
    expect(exited.code).not.toBeNull();
    const lines = outputLines(exited);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(paths.get(name));
    expect(existsSync(exited.dataDir)).toBe(false);
  });
});

describe('loadConfig: Nango’s names and defaults', () => {
  it('listens on 3003 by default, with the server and callback URLs on localhost:3003', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3003);
    expect(config.serverUrl).toBe('http://localhost:3003');
    expect(config.callbackUrl).toBe('http://localhost:3003/oauth/callback');
  });

  it('falls back to PORT when SERVER_PORT is unset, and prefers SERVER_PORT when both are set', () => {
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080);
    expect(loadConfig({ PORT: '8080', SERVER_PORT: '9090' }).port).toBe(9090);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ SERVER_PORT: '', NANGO_ENCRYPTION_KEY: '', NANGO_SECRET_KEY: '  ' })).toMatchObject({ port: 3003, encryptionKey: undefined, secretKey: undefined });
  });

  it('derives the callback URL from NANGO_SERVER_URL, without a doubled slash', () => {
    expect(loadConfig({ NANGO_SERVER_URL: 'https://custody.example.com' }).callbackUrl).toBe('https://custody.example.com/oauth/callback');
    expect(loadConfig({ NANGO_SERVER_URL: 'https://custody.example.com/' }).callbackUrl).toBe('https://custody.example.com/oauth/callback');
  });

  it('uses NANGO_CALLBACK_URL as given when set', () => {
    expect(loadConfig({ NANGO_SERVER_URL: 'https://custody.example.com', NANGO_CALLBACK_URL: 'https://auth.example.com/cb' }).callbackUrl).toBe('https://auth.example.com/cb');
  });

  it('runs the embedded database by default, in ./nango-data, with a pool of 2 to 7', () => {
    expect(loadConfig({}).database).toEqual({ kind: 'embedded', dataDir: path.resolve('nango-data'), poolMin: 2, poolMax: 7 });
  });

  it('resolves a relative NANGO_DATA_DIR against the working directory', () => {
    expect(loadConfig({ NANGO_DATA_DIR: 'var/custody' }).database).toMatchObject({ kind: 'embedded', dataDir: path.resolve('var/custody') });
  });

  it('uses an external database when NANGO_DATABASE_URL is set', () => {
    expect(loadConfig({ NANGO_DATABASE_URL: 'postgresql://u:p@db.internal:5433/custody' }).database).toMatchObject({
      kind: 'external',
      url: 'postgresql://u:p@db.internal:5433/custody',
      poolMin: 2,
      poolMax: 7,
    });
  });

  it('uses an external database when NANGO_DB_HOST is set, with Nango’s defaults for the other NANGO_DB_* settings', () => {
    expect(loadConfig({ NANGO_DB_HOST: 'db.internal' }).database).toEqual({
      kind: 'external',
      url: undefined,
      host: 'db.internal',
      port: 5432,
      user: 'nango',
      password: 'nango',
      name: 'nango',
      ssl: false,
      poolMin: 2,
      poolMax: 7,
    });
  });

  it('reads every NANGO_DB_* setting', () => {
    expect(
      loadConfig({ NANGO_DB_HOST: 'h', NANGO_DB_PORT: '6543', NANGO_DB_USER: 'u', NANGO_DB_PASSWORD: 'p', NANGO_DB_NAME: 'n', NANGO_DB_SSL: 'true', NANGO_DB_POOL_MIN: '1', NANGO_DB_POOL_MAX: '20' }).database,
    ).toEqual({ kind: 'external', url: undefined, host: 'h', port: 6543, user: 'u', password: 'p', name: 'n', ssl: true, poolMin: 1, poolMax: 20 });
  });

  it('refuses a pool whose minimum is above its maximum', () => {
    expect(() => loadConfig({ NANGO_DB_POOL_MIN: '10', NANGO_DB_POOL_MAX: '5' })).toThrow(ConfigError);
    expect(() => loadConfig({ NANGO_DB_POOL_MIN: '10', NANGO_DB_POOL_MAX: '5' })).toThrow(/NANGO_DB_POOL_MIN/);
  });

  it('accepts a 32-byte base64 encryption key and keeps its text', () => {
    const key = randomBytes(32).toString('base64');
    expect(loadConfig({ NANGO_ENCRYPTION_KEY: key }).encryptionKey).toBe(key);
  });

  it('turns HMAC on with sha256 by default', () => {
    expect(loadConfig({ NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'k' }).hmac).toEqual({ enabled: true, key: 'k', algorithm: 'sha256' });
    expect(loadConfig({}).hmac).toEqual({ enabled: false });
  });

  it('protects the dashboard only when both credentials are set', () => {
    expect(loadConfig({}).dashboard).toBeUndefined();
    expect(loadConfig({ NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'pw' }).dashboard).toEqual({ username: 'admin', password: 'pw' });
  });

  it('allows no non-public connection host by default, and reads names, suffixes and ranges', () => {
    expect(loadConfig({}).connectionHostsAllowed.entries).toEqual([]);
    const allowed = loadConfig({ NANGO_CONNECTION_HOSTS_ALLOWED: 'GitLab.internal, .corp.example.com *.lab.example.com,10.0.0.0/8, fd00::/8, 127.0.0.1' }).connectionHostsAllowed;
    expect(allowed.names).toEqual(['gitlab.internal']);
    expect(allowed.suffixes).toEqual(['.corp.example.com', '.lab.example.com']);
    expect(allowed.ranges).toHaveLength(3);
  });

  it('logs at info by default and accepts Nango’s syslog level names', () => {
    expect(loadConfig({}).logLevel).toBe('info');
    expect(loadConfig({ LOG_LEVEL: 'warning' }).logLevel).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
  });

  it.each([
    ['SERVER_PORT', { SERVER_PORT: '3.5' }],
    ['NANGO_ENCRYPTION_KEY', { NANGO_ENCRYPTION_KEY: randomBytes(31).toString('base64') }],
    ['NANGO_HMAC_KEY', { NANGO_HMAC_ENABLED: 'yes' }],
    ['NANGO_DB_SSL', { NANGO_DB_HOST: 'h', NANGO_DB_SSL: 'maybe' }],
    ['NANGO_DB_PORT', { NANGO_DB_HOST: 'h', NANGO_DB_PORT: 'five' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'chatty' }],
    ['NANGO_CONNECTION_HOSTS_ALLOWED', { NANGO_CONNECTION_HOSTS_ALLOWED: 'https://gitlab.internal/' }],
    ['NANGO_CONNECTION_HOSTS_ALLOWED', { NANGO_CONNECTION_HOSTS_ALLOWED: 'gitlab.internal, 10.0.0.0/33' }],
  ] as const)('throws a ConfigError naming %s', (name, env) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(name);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('a .env file in the working directory', () => {
  let database: TestDatabase;
  let server: RunningServer | undefined;
  const callbackUrl = 'https://custody.example.com/oauth/callback';

  beforeAll(async () => {
    database = await createTestDatabase();
    const cwd = mkdtempSync(path.join(scratch, 'dotenv-'));
    writeFileSync(
      path.join(cwd, '.env'),
      [
        '# written by the test',
        `NANGO_DATABASE_URL=${database.url}`,
        'NANGO_SECRET_KEY=secret-from-dotenv',
        `NANGO_CALLBACK_URL=${callbackUrl}`,
        // The environment wins over the file: the test's SERVER_PORT=0 must be used, not this.
        'SERVER_PORT=not-a-port',
        'TELEMETRY=false',
      ].join('\n'),
    );
    server = await startServer({}, { cwd });
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('is read at start, and the environment wins over it', () => {
    expect(server?.output()).toContain(callbackUrl);
    expect(server?.port).toBeGreaterThan(0);
  });

  it('can hold the secret key', async () => {
    expect((await fetch(`${server?.baseUrl}/config`)).status).toBe(401);
    expect((await fetch(`${server?.baseUrl}/config`, { headers: { authorization: 'Bearer secret-from-dotenv' } })).status).toBe(200);
  });

  it('is named in the start-up lines as where the secret key comes from, which are never the key itself', () => {
    expect(server?.output()).toMatch(/The secret key is NANGO_SECRET_KEY from \/\S+\/dotenv-\w+\/\.env\. /);
    expect(server?.output()).not.toContain('secret-from-dotenv');
  });
});

describe('.env.template', () => {
  it('documents every variable the configuration reads', () => {
    // The variables loadConfig asks for, in environments that switch its optional parts on: each lookup is recorded.
    const read = new Set<string>();
    const recording = (values: Record<string, string>) =>
      new Proxy<Record<string, string | undefined>>(values, {
        get: (target, name) => {
          if (typeof name !== 'string') return undefined;
          read.add(name);
          return target[name];
        },
      });
    const environments: Record<string, string>[] = [
      {},
      { NANGO_DB_HOST: 'db' },
      { NANGO_DATABASE_URL: 'postgres://user:pass@db:5432/nango' },
      { NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hmac-key' },
      { NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'password' },
      { NANGO_ENCRYPTION_KEY: randomBytes(32).toString('base64'), NANGO_ENCRYPTION_KEY_PREVIOUS: randomBytes(32).toString('base64') },
      { NANGO_WEBHOOK_URL: 'https://app.example.com/webhooks' },
    ];
    for (const values of environments) loadConfig(recording(values));
    for (const conditional of ['NANGO_DB_PORT', 'NANGO_DB_SSL', 'NANGO_HMAC_KEY', 'NANGO_WEBHOOK_SECRET']) expect(read).toContain(conditional);
    const template = readFileSync(path.join(PACKAGE_ROOT, '.env.template'), 'utf8');
    const undocumented = [...read].filter((name) => !new RegExp(`\\b${name}\\b`).test(template));
    expect(undocumented).toEqual([]);
  });
});
