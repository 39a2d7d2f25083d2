import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import type { TestApp } from './support/test-app.js';
import { buildWebTestApp, dashboardAuth } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * Issue 18, finding 2: an attacker who reaches a server set up as the docs say must not find an open dashboard
 * that hands out the secret key and every token. With a secret key the dashboard and `/api/v1/*` always ask for
 * a sign-in (the key itself, when no dashboard login is configured); a server without a key listens on
 * 127.0.0.1 only unless SERVER_HOST or HOST says otherwise; `nango init` and the compose file set it all up.
 */
const SECRET_KEY = 'sk-exposed-dashboard-0123456789';
const TOKEN = 'victim-access-token-0123456789';

let database: TestDatabase;
let keyed: TestApp;
let withLogin: TestApp;

beforeAll(async () => {
  ensureWebBuild();
  database = await createTestDatabase();
  keyed = await buildWebTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY });
  withLogin = await buildWebTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY, NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'dashboard-password-1' });
  await keyed.app.inject({ method: 'POST', url: '/config', headers: { authorization: `Bearer ${SECRET_KEY}` }, payload: { provider_config_key: 'github', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' } });
  const imported = await keyed.app.inject({
    method: 'POST',
    url: '/connection',
    headers: { authorization: `Bearer ${SECRET_KEY}` },
    payload: { connection_id: 'victim', provider_config_key: 'github', type: 'OAUTH2', access_token: TOKEN, expires_at: '2099-01-01T00:00:00.000Z' },
  });
  expect(imported.statusCode).toBe(201);
});

afterAll(async () => {
  await keyed?.close();
  await withLogin?.close();
  await database?.drop();
});

describe('an attacker who reaches a server with a secret key and no dashboard login', () => {
  const sensitive = ['/api/v1/account', '/api/v1/connection/victim?provider_config_key=github', '/api/v1/integration/github', '/api/v1/settings', '/', '/dashboard/connections'];

  it('gets 401 with a Basic challenge for the dashboard pages and /api/v1/*, and neither the key nor a token', async () => {
    for (const url of sensitive) {
      const response = await keyed.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm="Custody dashboard"/);
      expect(response.body).toMatch(/sign in with the secret key \(NANGO_SECRET_KEY\) as the password/);
      expect(response.body).not.toContain(SECRET_KEY);
      expect(response.body).not.toContain(TOKEN);
    }
  });

  it('gets 401 for a guessed password, for the key sent as a user name with a password, and for a guessed Bearer key', async () => {
    for (const authorization of [dashboardAuth('admin', 'admin'), dashboardAuth('admin', ''), dashboardAuth(SECRET_KEY, 'x'), 'Bearer sk-guess', `Basic ${Buffer.from(SECRET_KEY).toString('base64')}`]) {
      const response = await keyed.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization } });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.body).not.toContain(SECRET_KEY);
    }
  });

  it('still reaches the open parts: the provider list, the Connect UI and /health', async () => {
    for (const url of ['/api/v1/provider', '/connect/', '/health']) expect((await keyed.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
  });
});

describe('the operator of that server', () => {
  it('signs in with the secret key as the password under any user name, as the browser prompt asks', async () => {
    for (const username of ['admin', 'ops@example.com', '']) {
      const account = await keyed.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: dashboardAuth(username, SECRET_KEY) } });
      expect(account.statusCode, username).toBe(200);
      expect(account.json().account.secret_key).toBe(SECRET_KEY);
    }
    const page = await keyed.app.inject({ method: 'GET', url: '/dashboard/connections', headers: { authorization: dashboardAuth('admin', SECRET_KEY) } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('&quot;dashboardSignIn&quot;:&quot;secret_key&quot;');
  });

  it('also signs in the way the API takes the key (Bearer, or Basic with the key as the user name) and reads a token, audited as the secret key', async () => {
    for (const authorization of [`Bearer ${SECRET_KEY}`, `Basic ${Buffer.from(`${SECRET_KEY}:`).toString('base64')}`]) {
      const response = await keyed.app.inject({ method: 'GET', url: '/api/v1/connection/victim?provider_config_key=github', headers: { authorization } });
      expect(response.statusCode, authorization).toBe(200);
      expect(response.json().connection.accessToken).toBe(TOKEN);
    }
    const read = await database.knex('_custody_audit_log').where({ action: 'credentials.read', connection_id: 'victim' }).orderBy('id', 'desc').first();
    expect(read.principal).toBe('dashboard:(secret key)');
  });

  it('sees how the dashboard is entered in the settings', async () => {
    const settings = (await keyed.app.inject({ method: 'GET', url: '/api/v1/settings', headers: { authorization: `Bearer ${SECRET_KEY}` } })).json().settings;
    expect(settings).toMatchObject({ dashboardAuth: false, dashboardSignIn: 'secret_key' });
  });

  it('keeps a dashboard login of its own when NANGO_DASHBOARD_USERNAME/PASSWORD are set: only that login signs in', async () => {
    expect((await withLogin.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: dashboardAuth('admin', 'dashboard-password-1') } })).statusCode).toBe(200);
    for (const authorization of [dashboardAuth('admin', SECRET_KEY), `Bearer ${SECRET_KEY}`]) {
      const refused = await withLogin.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization } });
      expect(refused.statusCode).toBe(401);
      expect(refused.body).toMatch(/dashboard user name (or|and) password/);
    }
  });
});

/** An IPv4 address of this machine that is not loopback: what another machine would connect to. */
const outsideAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;

/** Whether a plain GET /health on `host:port` is answered (false when the connection is refused). */
async function answers(host: string, port: number): Promise<boolean> {
  try {
    return (await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(3_000) })).ok;
  } catch {
    return false;
  }
}

describe.skipIf(outsideAddress === undefined)(`a server started without a secret key, reached from another machine (at ${outsideAddress ?? 'none'})`, () => {
  const servers: ServerProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const server = await startServerProcess({ NANGO_DATABASE_URL: database.url, NANGO_AUTH_FAILURE_LIMIT: '0', ...env });
    servers.push(server);
    return server;
  };

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  it('is not reachable: it listens on 127.0.0.1 only, and says so in one line at start', async () => {
    const server = await start({});
    expect(await answers('127.0.0.1', server.port)).toBe(true);
    expect(await answers(outsideAddress ?? '', server.port)).toBe(false);
    const lines = server.output().split('\n').filter((line) => line.includes('listens on 127.0.0.1 only'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('NANGO_SECRET_KEY is not set: the API and the dashboard are open, so the server listens on 127.0.0.1 only and other machines cannot reach it.');
  });

  it('is reachable when HOST=0.0.0.0 says so (and SERVER_HOST wins over HOST), with a warning that everything is open', async () => {
    const server = await start({ HOST: '0.0.0.0' });
    expect(await answers(outsideAddress ?? '', server.port)).toBe(true);
    expect(server.output()).toContain('are open to anyone who can reach this server (it listens on 0.0.0.0, from HOST)');
    expect(loadConfig({ SERVER_HOST: '127.0.0.1', HOST: '0.0.0.0' })).toMatchObject({ host: '127.0.0.1', hostSetBy: 'SERVER_HOST' });
  });

  it('listens on every interface once it has a secret key', async () => {
    const server = await start({ NANGO_SECRET_KEY: SECRET_KEY, NANGO_PUBLIC_CONNECT: 'false' });
    expect(await answers(outsideAddress ?? '', server.port)).toBe(true);
    expect(server.output()).not.toContain('NANGO_SECRET_KEY is not set');
  });
});

describe('the listen address setting', () => {
  it('defaults to 127.0.0.1 without a secret key and to 0.0.0.0 with one', () => {
    expect(loadConfig({})).toMatchObject({ host: '127.0.0.1', hostSetBy: null });
    expect(loadConfig({ NANGO_SECRET_KEY: 'k' })).toMatchObject({ host: '0.0.0.0', hostSetBy: null });
    expect(loadConfig({ HOST: '[::1]' })).toMatchObject({ host: '::1', hostSetBy: 'HOST' });
  });

  it('refuses a value that is no address, naming the variable', () => {
    expect(() => loadConfig({ SERVER_HOST: 'http://0.0.0.0' })).toThrow(/^SERVER_HOST must be an IP address or a host name to listen on/);
  });
});

describe('a deployment made as the docs say', () => {
  const compose = (file: string) => parseYaml(readFileSync(path.join(PACKAGE_ROOT, file), 'utf8')) as { services: { server: { environment: Record<string, string> } } };

  it('listens on every interface inside the container, because the compose files say so explicitly', () => {
    expect(compose('docker-compose.yml').services.server.environment['SERVER_HOST']).toBe('0.0.0.0');
    expect(compose('docker-compose.scale.yml').services.server.environment['SERVER_HOST']).toBe('0.0.0.0');
  });

  it('gets dashboard credentials from `nango init`, which never prints a secret but says how to read the password', async () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'custody-init-'));
    try {
      const result = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', tsx, path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'init'], { cwd, env: { PATH: process.env['PATH'] ?? '', HOME: cwd }, stdio: ['ignore', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout }));
      });
      expect(result.code).toBe(0);
      const envFile = path.join(cwd, 'nango', '.env');
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      const env = Object.fromEntries(readFileSync(envFile, 'utf8').split('\n').filter((line) => /^[A-Z_]+=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
      expect(env['NANGO_DASHBOARD_USERNAME']).toBe('admin');
      expect(env['NANGO_DASHBOARD_PASSWORD']).toMatch(/^[\w-]{24}$/);
      expect(env['NANGO_PUBLIC_CONNECT']).toBe('false');
      // The generated settings are a configuration the server accepts.
      expect(loadConfig(env)).toMatchObject({ dashboard: { username: 'admin' }, publicConnect: false });
      expect(result.stdout).toContain('sign in as "admin" with the password this prints:');
      expect(result.stdout).toContain("sed -n 's/^NANGO_DASHBOARD_PASSWORD=//p' nango/.env");
      for (const secret of [env['NANGO_DASHBOARD_PASSWORD'], env['NANGO_SECRET_KEY'], env['NANGO_ENCRYPTION_KEY']]) expect(result.stdout).not.toContain(secret);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
