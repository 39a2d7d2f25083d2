import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Nango } from '@nangohq/node';
import { SignJWT } from 'jose';
import { Nango as SeedNango } from 'nango-node-016';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startGitHubAppServer, type GitHubAppServer } from './support/github-app-server.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * GitHub App connections (`APP`), end to end against a local GitHub that checks the app's JWT as GitHub
 * documents: the end user installs the app, the server mints installation tokens with the app's private key,
 * hands them to both SDK generations and the proxy, and mints a new one before the hour is up, once across
 * processes. The private key is kept sealed and never read back.
 */
const SECRET = 'github-app-secret';
const AUTH = { authorization: `Bearer ${SECRET}` };
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

let database: TestDatabase;
let github: GitHubAppServer;
let test: TestApp;
let host: string;
let providersFile: string;

function githubAppTemplate(origin: string): Record<string, unknown> {
  return {
    alias: 'github-app',
    authorization_url: `${origin}/apps/\${app_slug}/installations/new`,
    token_url: `${origin}/app/installations/\${installation_id}/access_tokens`,
    proxy: { base_url: origin, headers: { accept: 'application/vnd.github+json' } },
  };
}

function appCredentials(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'APP', app_id: github.appId, app_link: `https://github.com/apps/${github.slug}`, private_key: github.privateKeyPem, ...overrides };
}

async function createIntegration(key = 'gh', credentials = appCredentials()): Promise<void> {
  const created = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: key, provider: 'github-app-local', credentials } });
  expect(created.statusCode, created.body).toBe(200);
}

/** The end user's browser: the connect route, GitHub's installation page, and back to the app's Setup URL. */
async function install(connectionId: string, key = 'gh'): Promise<{ status: number; body: string; installationPage: string }> {
  const start = await fetch(`${host}/oauth/connect/${key}?connection_id=${connectionId}`, { redirect: 'manual' });
  expect(start.status, await start.clone().text()).toBe(302);
  const installationPage = String(start.headers.get('location'));
  const installed = await fetch(installationPage, { redirect: 'manual' });
  expect(installed.status).toBe(302);
  const setup = await fetch(String(installed.headers.get('location')));
  return { status: setup.status, body: await setup.text(), installationPage };
}

async function storedCredentials(connectionId: string): Promise<Record<string, unknown>> {
  const response = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=gh`, headers: AUTH });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().credentials;
}

beforeAll(async () => {
  database = await createTestDatabase();
  github = await startGitHubAppServer();
  const overlay = catalogWith({ 'github-app-local': githubAppTemplate(github.origin) });
  providersFile = overlay.file;
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET, NANGO_ENCRYPTION_KEY: ENCRYPTION_KEY }, { providers: overlay.catalog });
  await test.app.listen({ port: 0, host: '127.0.0.1' });
  host = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
  github.setupUrl = `${host}/app-auth/connect`;
});

afterAll(async () => {
  await test?.close();
  await github?.close();
  await database?.drop();
});

beforeEach(async () => {
  await database.knex('_nango_connections').delete();
  await database.knex('_nango_configs').delete();
  github.nextInstallation = { id: '1001', setupAction: 'install' };
  github.refusals.length = 0;
});

describe('a GitHub App integration', () => {
  it('keeps the app id and link, and seals the private key, which no read returns', async () => {
    await createIntegration();
    const row = await database.knex('_nango_configs').where({ unique_key: 'gh' }).first();
    expect(row.oauth_client_id).toBe(github.appId);
    expect(row.app_link).toBe(`https://github.com/apps/${github.slug}`);
    expect(row.oauth_client_secret).not.toContain('PRIVATE KEY');
    expect(row.oauth_client_secret_iv).toBeTruthy();

    const modern = await test.app.inject({ method: 'GET', url: '/integrations/gh?include=credentials', headers: AUTH });
    expect(modern.json().data.credentials).toEqual({ type: 'APP', app_id: github.appId, app_link: `https://github.com/apps/${github.slug}` });
    const seed = await test.app.inject({ method: 'GET', url: '/config/gh', headers: AUTH });
    expect(seed.json().config.oauth_client_secret).toBeNull();
    const dashboard = await test.app.inject({ method: 'GET', url: '/api/v1/integration/gh', headers: { authorization: `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}` } });
    expect(dashboard.json().integration.clientSecret).toBeNull();
    expect(dashboard.body).not.toContain('PRIVATE KEY');
    expect(test.logs.join('')).not.toContain('PRIVATE KEY');
  });

  it('refuses a private key that is not a PEM private key with a 400 that says what to paste', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: 'gh', provider: 'github-app-local', credentials: appCredentials({ private_key: 'not a key' }) } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('PEM of the GitHub App');
    const dashboard = await test.app.inject({
      method: 'POST',
      url: '/api/v1/integration',
      headers: { authorization: `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}` },
      payload: { provider_config_key: 'gh', provider: 'github-app-local', client_id: github.appId, client_secret: 'not a key', app_link: github.slug },
    });
    expect(dashboard.statusCode).toBe(400);
    expect(dashboard.body).toContain('PEM');
    expect(await database.knex('_nango_configs').count({ n: '*' }).first()).toEqual({ n: '0' });
  });

  it('refuses a missing app id, and an app link that is not a GitHub App link, with a 400', async () => {
    const { app_id: _dropped, ...withoutId } = appCredentials();
    const missing = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: 'gh', provider: 'github-app-local', credentials: withoutId } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toContain('app_id');
    const badLink = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: 'gh', provider: 'github-app-local', credentials: appCredentials({ app_link: 'https://evil.example/x y' }) } });
    expect(badLink.statusCode).toBe(400);
    expect(badLink.json().error.message).toContain('app_link');
  });
});

describe('installing the app', () => {
  it('sends the end user to the app\'s installation page with a state, and stores the installation from the Setup URL callback', async () => {
    await createIntegration();
    const { status, body, installationPage } = await install('octo-org');
    const page = new URL(installationPage);
    expect(`${page.origin}${page.pathname}`).toBe(`${github.origin}/apps/${github.slug}/installations/new`);
    expect(page.searchParams.get('state')).toMatch(/^[0-9a-f-]{36}$/);
    expect(status, body).toBe(200);
    const credentials = await storedCredentials('octo-org');
    expect(credentials).toMatchObject({ type: 'APP', installation_id: '1001' });
    expect(github.tokens.has(String(credentials['access_token']))).toBe(true);
  });

  it('signs its JWT as GitHub documents: RS256, iss the app id, iat 60 s back, exp at most 10 minutes ahead', async () => {
    await createIntegration();
    const before = github.acceptedClaims.length;
    await install('claims');
    const claims = github.acceptedClaims.slice(before);
    expect(claims).toHaveLength(1);
    const [jwt] = claims;
    expect(jwt?.iss).toBe(github.appId);
    expect((jwt?.receivedAt ?? 0) - (jwt?.iat ?? 0)).toBeGreaterThanOrEqual(59);
    expect((jwt?.receivedAt ?? 0) - (jwt?.iat ?? 0)).toBeLessThanOrEqual(62);
    expect((jwt?.exp ?? 0) - (jwt?.receivedAt ?? 0)).toBeLessThanOrEqual(600);
  });

  it('fails the connection, storing nothing, when GitHub does not know the installation', async () => {
    await createIntegration();
    github.installations.delete('9999');
    const start = await fetch(`${host}/oauth/connect/gh?connection_id=ghost`, { redirect: 'manual' });
    const state = new URL(String(start.headers.get('location'))).searchParams.get('state');
    const setup = await fetch(`${host}/app-auth/connect?installation_id=9999&setup_action=install&state=${state}`);
    expect(setup.status).toBe(502);
    expect(github.refusals).toContain('unknown installation');
    expect(await database.knex('_nango_connections').where({ connection_id: 'ghost' }).first()).toBeUndefined();
  });

  it('says the installation waits for an owner\'s approval when GitHub answers setup_action=request', async () => {
    await createIntegration();
    github.nextInstallation = { id: '2002', setupAction: 'request' };
    const { status, body } = await install('pending');
    expect(status).toBe(403);
    expect(body).toContain('approve');
    expect(await database.knex('_nango_connections').where({ connection_id: 'pending' }).first()).toBeUndefined();
  });

  it('is refused by GitHub when the integration holds another key than the app\'s, and stores nothing', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await createIntegration('gh', appCredentials({ private_key: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString() }));
    const { status } = await install('wrong-key');
    expect(status).toBe(502);
    expect(github.refusals).toEqual(['signature']);
  });

  it('is refused by GitHub when the app id is another app\'s (the JWT\'s issuer)', async () => {
    await createIntegration('gh', appCredentials({ app_id: '7' }));
    const { status } = await install('wrong-issuer');
    expect(status).toBe(502);
    expect(github.refusals).toEqual(['issuer']);
  });
});

describe('the local GitHub refuses JWTs GitHub refuses', () => {
  const key = () => createPrivateKey(github.privateKeyPem);
  const mint = async (jwt: string) => fetch(`${github.origin}/app/installations/1001/access_tokens`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, accept: 'application/vnd.github+json', 'user-agent': 'spec' } });
  const now = () => Math.floor(Date.now() / 1000);

  beforeEach(() => {
    github.installations.add('1001');
  });

  it('accepts a JWT made by the rules', async () => {
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(github.appId).setIssuedAt(now() - 60).setExpirationTime(now() + 540).sign(key());
    expect((await mint(jwt)).status).toBe(201);
  });

  it('refuses an expired JWT, one that lives more than 10 minutes, and one issued in the future', async () => {
    const signed = (iat: number, exp: number) => new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(github.appId).setIssuedAt(iat).setExpirationTime(exp).sign(key());
    expect((await mint(await signed(now() - 700, now() - 1))).status).toBe(401);
    expect((await mint(await signed(now() - 60, now() + 660))).status).toBe(401);
    expect((await mint(await signed(now() + 120, now() + 300))).status).toBe(401);
    expect(github.refusals).toEqual(['expired', 'exp too far', 'iat']);
  });
});

describe('an installed app\'s connection', () => {
  beforeEach(async () => {
    await createIntegration();
    await install('octo-org');
  });

  it('gives its installation token to the seed SDK and the modern SDK', async () => {
    const token = (await storedCredentials('octo-org'))['access_token'];
    const seed = await new SeedNango({ host, secretKey: SECRET }).getConnection('gh', 'octo-org');
    expect(seed.credentials).toMatchObject({ type: 'APP', access_token: token });
    const modern = new Nango({ host, secretKey: SECRET });
    expect(await modern.getToken('gh', 'octo-org')).toMatchObject({ type: 'APP', access_token: token, expires_at: expect.any(String) });
    expect((await modern.getConnection('gh', 'octo-org')).credentials).toMatchObject({ type: 'APP', access_token: token });
  });

  it('authorises proxied calls with its installation token', async () => {
    const response = await fetch(`${host}/proxy/installation/repositories`, { headers: { ...AUTH, 'connection-id': 'octo-org', 'provider-config-key': 'gh' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ total_count: 1, repositories: [{ full_name: 'octo-org/hello' }] });
  });

  it('mints a new installation token when the current one is within the refresh margin of its hour', async () => {
    const first = await storedCredentials('octo-org');
    const mints = github.mints.get('1001') ?? 0;
    await expireStoredToken('octo-org', 5 * 60_000);
    const fresh = await storedCredentials('octo-org');
    expect(github.mints.get('1001')).toBe(mints + 1);
    expect(fresh['access_token']).not.toBe(first['access_token']);
    expect(github.tokens.has(String(fresh['access_token']))).toBe(true);
    const proxied = await fetch(`${host}/proxy/installation/repositories`, { headers: { ...AUTH, 'connection-id': 'octo-org', 'provider-config-key': 'gh' } });
    expect(proxied.status).toBe(200);
  });

  it('keeps the stored token and says why when GitHub refuses the renewal (the installation was removed)', async () => {
    const first = await storedCredentials('octo-org');
    await expireStoredToken('octo-org', -60_000);
    github.installations.delete('1001');
    const response = await test.app.inject({ method: 'GET', url: '/connection/octo-org?provider_config_key=gh', headers: AUTH });
    expect(response.statusCode).toBe(502);
    expect(response.body).toContain('installation 1001');
    const row = await database.knex('_nango_connections').where({ connection_id: 'octo-org' }).first();
    expect(row.last_refresh_error).toContain('Not Found');
    github.installations.add('1001');
    expect((await storedCredentials('octo-org'))['access_token']).not.toBe(first['access_token']);
  });
});

/** Moves the stored token's expiry to `fromNowMs` from now (plain SQL, as if the hour had passed; the row is stored unsealed, as an adopted one may be). */
async function expireStoredToken(connectionId: string, fromNowMs: number): Promise<void> {
  const response = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=gh`, headers: AUTH });
  const credentials = { ...response.json().credentials, expires_at: new Date(Date.now() + fromNowMs).toISOString() };
  await database.knex('_nango_connections').where({ connection_id: connectionId }).update({ credentials: JSON.stringify(credentials), credentials_iv: null, credentials_tag: null });
}

describe('two server processes on one database', () => {
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    const env = { NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: SECRET, NANGO_PROVIDERS_FILE: providersFile, NANGO_ENCRYPTION_KEY: ENCRYPTION_KEY };
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess(env)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('mint one new installation token for 40 concurrent readers when the old one runs out', async () => {
    await createIntegration();
    await install('busy-org');
    await expireStoredToken('busy-org', -60_000);
    const before = github.mints.get('1001') ?? 0;
    const reads = await Promise.all(
      Array.from({ length: 40 }, (_, index) => fetch(`${(index % 2 === 0 ? a : b).baseUrl}/connection/busy-org?provider_config_key=gh`, { headers: AUTH })),
    );
    expect(reads.map((response) => response.status)).toEqual(Array(40).fill(200));
    const tokens = new Set(await Promise.all(reads.map(async (response) => ((await response.json()) as { credentials: { access_token: string } }).credentials.access_token)));
    expect(github.mints.get('1001')).toBe(before + 1);
    expect(tokens.size).toBe(1);
  });
});
