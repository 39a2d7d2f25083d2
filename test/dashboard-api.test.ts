import http from 'node:http';
import { readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { databaseSettings } from '../src/routes/dashboard/database-settings.js';
import { registerStaticWeb, WEB_ROOT } from '../src/routes/static-web.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import type { TestApp } from './support/test-app.js';
import { apiKeyTestProvider, catalogWith } from './support/test-providers.js';
import { buildWebTestApp, dashboardAuth } from './support/web-app.js';
import { scratchDir } from './support/scratch.js';
import { ensureWebBuild } from './support/web-build.js';
import { clientAuthRefusal, formContentTypeRefusal } from './support/token-request-rules.js';

/** The dashboard API (`/api/v1/*`, Nango v0.16's camelCase shapes), dashboard HTTP Basic, and the static web UI. */
let database: TestDatabase;
/** A server without a secret key: its dashboard is open, as on a developer's machine. */
let open: TestApp;
/** A server with a secret key and no dashboard login of its own: the key signs in. */
let keyed: TestApp;
let locked: TestApp;
let tokenServer: http.Server;
const SERVER_URL = 'http://custody.test';
const ADMIN = dashboardAuth('admin', 'correct horse');
const KEY_SIGN_IN = dashboardAuth('admin', 'sk-test');

beforeAll(async () => {
  ensureWebBuild();
  // A token endpoint that renews refresh token "good" and refuses anything else.
  tokenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      // RFC 6749 §6: a form-encoded POST from a registered client (the integration's app, before and after its PUT).
      const refusal = formContentTypeRefusal(req.headers['content-type']) ?? clientAuthRefusal(req.headers.authorization, form, 'body', { 'client-1': 'secret-1', 'client-2': 'secret-2' });
      if (refusal) return void res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.headers }).end(JSON.stringify(refusal.body));
      if (form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === 'good') {
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'renewed-token', refresh_token: 'good', expires_in: 3600, token_type: 'Bearer', scope: 'read write' }));
      }
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: 'The refresh token was revoked.' }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  const { catalog } = catalogWith({
    'oauth-test': {
      display_name: 'OAuth Test',
      categories: ['other'],
      auth_mode: 'OAUTH2',
      authorization_url: 'http://127.0.0.1:9/authorize',
      token_url: tokenUrl,
      default_scopes: ['read'],
      docs: 'https://example.com/docs',
      connection_config: { subdomain: { title: 'Subdomain', example: 'acme' } },
    },
    'key-test': apiKeyTestProvider(),
  });
  database = await createTestDatabase();
  open = await buildWebTestApp(database, { NANGO_SERVER_URL: SERVER_URL }, { providers: catalog });
  keyed = await buildWebTestApp(database, { NANGO_SERVER_URL: SERVER_URL, NANGO_SECRET_KEY: 'sk-test' }, { providers: catalog });
  locked = await buildWebTestApp(database, { NANGO_SERVER_URL: SERVER_URL, NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'correct horse', NANGO_WEBHOOK_URL: 'https://hooks.example.com/nango' }, { providers: catalog });
});

afterAll(async () => {
  await open?.close();
  await keyed?.close();
  await locked?.close();
  await database?.drop();
  tokenServer?.closeAllConnections();
  await new Promise<void>((resolve) => tokenServer?.close(() => resolve()));
});

describe('dashboard HTTP Basic', () => {
  it('answers 401 with a Basic challenge and a plain-text body without credentials, for the API and the pages', async () => {
    for (const url of ['/api/v1/integration', '/api/v1/account', '/', '/dashboard/connections', '/dashboard/connections/some/thing']) {
      const response = await locked.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm="Custody dashboard"/);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.body).toMatch(/NANGO_DASHBOARD_USERNAME/);
    }
  });

  it('refuses a wrong user name or password, and a secret key in the Authorization header', async () => {
    for (const authorization of [dashboardAuth('admin', 'wrong'), dashboardAuth('root', 'correct horse'), dashboardAuth('admin', ''), 'Bearer sk-test', 'Basic !!!']) {
      const response = await locked.app.inject({ method: 'GET', url: '/api/v1/integration', headers: { authorization } });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.body).toMatch(/wrong|required/);
    }
  });

  it('lets the dashboard user in and names them in the audit trail', async () => {
    expect((await locked.app.inject({ method: 'GET', url: '/api/v1/integration', headers: { authorization: ADMIN } })).statusCode).toBe(200);
    const page = await locked.app.inject({ method: 'GET', url: '/dashboard/settings', headers: { authorization: ADMIN } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect((await locked.app.inject({ method: 'POST', url: '/api/v1/integration', headers: { authorization: ADMIN }, payload: { provider_config_key: 'audited', provider: 'key-test' } })).statusCode).toBe(200);
    const entry = await database.knex('_custody_audit_log').where({ action: 'integration.create', provider_config_key: 'audited' }).first();
    expect(entry.principal).toBe('dashboard:admin');
    expect((await locked.app.inject({ method: 'GET', url: '/api/v1/user', headers: { authorization: ADMIN } })).json()).toEqual({ user: { id: 0, accountId: 0, email: 'unknown', name: 'admin' } });
    await locked.app.inject({ method: 'DELETE', url: '/api/v1/integration/audited', headers: { authorization: ADMIN } });
  });

  it('keeps the provider list, the Connect UI and the assets open', async () => {
    const providers = await locked.app.inject({ method: 'GET', url: '/api/v1/provider' });
    expect(providers.statusCode).toBe(200);
    expect(providers.json()).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'oauth-test', defaultScopes: ['read'], displayName: 'OAuth Test', authMode: 'OAUTH2' })]));
    expect((await locked.app.inject({ method: 'GET', url: '/connect/' })).statusCode).toBe(200);
    const asset = readdirSync(path.join(WEB_ROOT, 'assets')).find((file) => file.endsWith('.js'));
    expect((await locked.app.inject({ method: 'GET', url: `/assets/${asset}` })).statusCode).toBe(200);
  });

  it('tells the page whether a sign-in is configured (the open dashboard shows a banner)', async () => {
    const lockedPage = await locked.app.inject({ method: 'GET', url: '/', headers: { authorization: ADMIN } });
    expect(lockedPage.body).toContain('&quot;dashboardAuth&quot;:true');
    const openPage = await open.app.inject({ method: 'GET', url: '/' });
    expect(openPage.body).toContain('&quot;dashboardAuth&quot;:false');
  });
});

describe('account, user, settings', () => {
  it('answers the account as self-hosted Nango does: the configured secret key, the global callback URL, the server URL', async () => {
    const response = (await keyed.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: KEY_SIGN_IN } })).json();
    expect(response.account).toMatchObject({ id: 0, secret_key: 'sk-test', public_key: expect.stringMatching(/^[0-9a-f-]{36}$/), callback_url: `${SERVER_URL}/oauth/callback`, host: SERVER_URL, name: 'My Organization' });
    const noKey = (await locked.app.inject({ method: 'GET', url: '/api/v1/account', headers: { authorization: ADMIN } })).json();
    expect(noKey.account.secret_key).toBe('(none)');
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/basic' })).statusCode).toBe(200);
  });

  it('reports what is switched on, and the webhook URL or its absence', async () => {
    const settings = (await keyed.app.inject({ method: 'GET', url: '/api/v1/settings', headers: { authorization: KEY_SIGN_IN } })).json().settings;
    expect(settings).toMatchObject({
      serverUrl: SERVER_URL,
      callbackUrl: `${SERVER_URL}/oauth/callback`,
      connectUrl: `${SERVER_URL}/connect`,
      secretKeyConfigured: true,
      encryptionEnabled: false,
      hmac: { enabled: false },
      webhookUrl: null,
      dashboardAuth: false,
    });
    expect(JSON.stringify(settings)).not.toContain('sk-test');
    const lockedSettings = (await locked.app.inject({ method: 'GET', url: '/api/v1/settings', headers: { authorization: ADMIN } })).json().settings;
    expect(lockedSettings).toMatchObject({ webhookUrl: 'https://hooks.example.com/nango', secretKeyConfigured: false, dashboardAuth: true });
  });

  it('says telemetry is on but sends nothing while NANGO_TELEMETRY_ENDPOINT is unset', async () => {
    const settings = (await open.app.inject({ method: 'GET', url: '/api/v1/settings' })).json().settings;
    expect(settings).toMatchObject({ telemetry: true, telemetryEndpointSet: false });
  });

  it('names the database variables in use, with where they point and never the password', async () => {
    const settings = (await open.app.inject({ method: 'GET', url: '/api/v1/settings' })).json().settings;
    const url = new URL(database.url);
    expect(settings.database).toBe('external');
    expect(settings.databaseSettings).toEqual([
      { variable: 'NANGO_DATABASE_URL', value: `${url.hostname}:${url.port}${url.pathname} as ${url.username}` },
      { variable: 'NANGO_DB_SSL', value: 'off' },
      { variable: 'NANGO_DB_POOL_MIN', value: '2' },
      { variable: 'NANGO_DB_POOL_MAX', value: '7' },
    ]);
    if (url.password) expect(JSON.stringify(settings)).not.toContain(url.password);
  });
});

describe('the database settings the Settings page names', () => {
  it('names the discrete NANGO_DB_* variables when they are used, hiding the password', () => {
    const { database: config } = loadConfig({ NANGO_DB_HOST: 'db.internal', NANGO_DB_PASSWORD: 'hunter2-password', NANGO_DB_SSL: 'true' });
    const settings = databaseSettings(config);
    expect(settings.map((setting) => setting.variable)).toEqual(['NANGO_DB_HOST', 'NANGO_DB_PORT', 'NANGO_DB_NAME', 'NANGO_DB_USER', 'NANGO_DB_PASSWORD', 'NANGO_DB_SSL', 'NANGO_DB_POOL_MIN', 'NANGO_DB_POOL_MAX']);
    expect(settings).toContainEqual({ variable: 'NANGO_DB_HOST', value: 'db.internal' });
    expect(settings).toContainEqual({ variable: 'NANGO_DB_SSL', value: 'on' });
    expect(JSON.stringify(settings)).not.toContain('hunter2-password');
  });

  it('shows a connection string without its password or query', () => {
    const { database: config } = loadConfig({ NANGO_DATABASE_URL: 'postgres://app:s3cr3t-pass@db.internal:6543/custody?sslmode=require&password=other-secret' });
    expect(databaseSettings(config)[0]).toEqual({ variable: 'NANGO_DATABASE_URL', value: 'db.internal:6543/custody as app' });
    expect(JSON.stringify(databaseSettings(config))).not.toMatch(/s3cr3t-pass|other-secret/);
  });

  it('names the data directory of the embedded database', () => {
    const { database: config } = loadConfig({ NANGO_DATA_DIR: 'some-data' });
    expect(databaseSettings(config)[0]).toEqual({ variable: 'NANGO_DATA_DIR', value: path.resolve('some-data') });
  });
});

describe('integrations', () => {
  const post = (payload: unknown, method: 'POST' | 'PUT' = 'POST') => open.app.inject({ method, url: '/api/v1/integration', payload: payload as object });

  it('checks the body in Nango’s order with its codes', async () => {
    const cases: [unknown, number, string][] = [
      [{}, 400, 'missing_provider_config'],
      [{ provider_config_key: 'x' }, 400, 'missing_provider_template'],
      [{ provider_config_key: 'x', provider: 'nope' }, 400, 'unknown_provider_template'],
      [{ provider_config_key: 'x', provider: 'oauth-test' }, 400, 'missing_client_id'],
      [{ provider_config_key: 'x', provider: 'oauth-test', client_id: 'id' }, 400, 'missing_client_secret'],
      [{ provider_config_key: 'x', provider: 'oauth-test', client_id: 'id', client_secret: 's', extra: 1 }, 400, 'invalid_body'],
    ];
    for (const [payload, status, type] of cases) {
      const response = await post(payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(status);
      expect(response.json()).toEqual({ error: expect.any(String), type, payload: expect.any(Object) });
    }
  });

  it('creates, lists (camelCase, newest first), reads, updates and deletes', async () => {
    expect((await post({ provider_config_key: 'oauth', provider: 'oauth-test', client_id: 'client-1', client_secret: 'secret-1', scopes: 'read write' })).statusCode).toBe(200);
    expect((await post({ provider_config_key: 'keys', provider: 'key-test' })).statusCode).toBe(200);
    const duplicate = await post({ provider_config_key: 'oauth', provider: 'oauth-test', client_id: 'c', client_secret: 's' });
    expect(duplicate.json().type).toBe('duplicate_provider_config');

    const list = (await open.app.inject({ method: 'GET', url: '/api/v1/integration' })).json();
    expect(list.integrations.map((item: { uniqueKey: string }) => item.uniqueKey)).toEqual(['keys', 'oauth']);
    expect(list.integrations[1]).toMatchObject({ uniqueKey: 'oauth', provider: 'oauth-test', connectionCount: 0, creationDate: expect.any(String), connectionConfigParams: ['subdomain'], displayName: 'OAuth Test', authMode: 'OAUTH2' });

    const one = (await open.app.inject({ method: 'GET', url: '/api/v1/integration/oauth' })).json();
    expect(one.integration).toMatchObject({ uniqueKey: 'oauth', provider: 'oauth-test', clientId: 'client-1', clientSecret: 'secret-1', scopes: 'read,write', callbackUrl: `${SERVER_URL}/oauth/callback` });

    expect((await post({ provider_config_key: 'oauth', provider: 'oauth-test', client_id: 'client-2', client_secret: 'secret-2', scopes: 'read' }, 'PUT')).statusCode).toBe(200);
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/integration/oauth' })).json().integration).toMatchObject({ clientId: 'client-2', clientSecret: 'secret-2', scopes: 'read' });
    expect((await post({ provider_config_key: 'ghost', provider: 'key-test' }, 'PUT')).json().type).toBe('unknown_provider_config');

    expect((await open.app.inject({ method: 'DELETE', url: '/api/v1/integration/keys' })).statusCode).toBe(200);
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/integration/keys' })).json().type).toBe('unknown_provider_config');
  });

  it('searches the catalog and describes one provider’s fields', async () => {
    const found = (await open.app.inject({ method: 'GET', url: '/api/v1/provider?search=key%20test' })).json();
    expect(found.map((item: { name: string }) => item.name)).toEqual(['key-test']);
    const detail = (await open.app.inject({ method: 'GET', url: '/api/v1/provider/oauth-test' })).json();
    expect(detail.provider).toMatchObject({ name: 'oauth-test', authMode: 'OAUTH2', connectionConfig: { subdomain: { title: 'Subdomain', example: 'acme' } }, connectionConfigParams: ['subdomain'] });
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/provider/nope' })).json().type).toBe('unknown_provider_template');
  });

  it('creates a connect session for "Try it", limited to the integration', async () => {
    const response = await open.app.inject({ method: 'POST', url: '/api/v1/connect-session', payload: { integration: 'oauth' } });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({ token: expect.stringMatching(/^nango_connect_session_[0-9a-f]{64}$/), connectLink: `${SERVER_URL}/connect/?session_token=${body.token}`, expiresAt: expect.any(String) });
    const session = await open.app.inject({ method: 'GET', url: '/connect/session', headers: { authorization: `Bearer ${body.token}` } });
    expect(session.json().data).toMatchObject({ allowed_integrations: ['oauth'], endUser: { id: 'dashboard-test' } });
    expect((await open.app.inject({ method: 'POST', url: '/api/v1/connect-session', payload: { integration: 'nope' } })).json().type).toBe('unknown_provider_config');
  });
});

describe('connections', () => {
  const minutes = (n: number) => new Date(Date.now() + n * 60_000).toISOString();
  const importConnection = async (connectionId: string, credentials: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const response = await keyed.app.inject({
      method: 'POST',
      url: '/connections',
      headers: { authorization: 'Bearer sk-test' },
      payload: { provider_config_key: 'oauth', connection_id: connectionId, credentials, ...extra },
    });
    expect(response.statusCode, response.body).toBe(201);
  };

  beforeAll(async () => {
    await importConnection('healthy', { type: 'OAUTH2', access_token: 'token-healthy', refresh_token: 'good', expires_at: minutes(120), raw: { token_type: 'bearer', scope: 'read write' } }, { end_user: { id: 'u-1', email: 'ada@example.com', display_name: 'Ada' }, metadata: { plan: 'pro' } });
    await importConnection('expiring', { type: 'OAUTH2', access_token: 'token-expiring', refresh_token: 'good', expires_at: minutes(120) });
    // Importing reads the connection back, which would refresh a token this close to expiry: age it afterwards.
    const soon = minutes(5);
    await database.knex('_nango_connections')
      .where({ connection_id: 'expiring' })
      .update({ credentials: JSON.stringify({ type: 'OAUTH2', access_token: 'token-expiring', refresh_token: 'good', expires_at: soon }), credentials_expires_at: new Date(soon) });
    await importConnection('expired', { type: 'OAUTH2', access_token: 'token-expired', expires_at: minutes(-60) });
    await importConnection('failing', { type: 'OAUTH2', access_token: 'token-failing', refresh_token: 'revoked', expires_at: minutes(120) });
  });

  const list = async (query = '') => (await open.app.inject({ method: 'GET', url: `/api/v1/connection${query}` })).json();

  it('lists with status, end user and a total, newest first', async () => {
    const body = await list();
    expect(body.total).toBe(4);
    expect(body.connections.map((row: { connectionId: string }) => row.connectionId)).toEqual(['failing', 'expired', 'expiring', 'healthy']);
    const byId = Object.fromEntries(body.connections.map((row: { connectionId: string }) => [row.connectionId, row]));
    expect(byId['healthy']).toMatchObject({ providerConfigKey: 'oauth', provider: 'oauth-test', creationDate: expect.any(String), status: 'healthy', statusReason: 'valid', endUser: { id: 'u-1', email: 'ada@example.com' }, hasRefreshToken: true });
    expect(byId['expiring']).toMatchObject({ status: 'expiring', statusReason: 'expires_soon' });
    expect(byId['expired']).toMatchObject({ status: 'expiring', statusReason: 'expired_no_refresh_token', hasRefreshToken: false });
    expect(JSON.stringify(body)).not.toContain('token-healthy');
  });

  it('searches, filters and pages', async () => {
    expect((await list('?search=ada')).connections.map((row: { connectionId: string }) => row.connectionId)).toEqual(['healthy']);
    expect((await list('?search=EXPIR')).total).toBe(2);
    expect((await list('?status=expiring')).connections.map((row: { connectionId: string }) => row.connectionId)).toEqual(['expired', 'expiring']);
    expect((await list('?integration=nope')).total).toBe(0);
    const page = await list('?limit=3&page=1');
    expect(page).toMatchObject({ total: 4, page: 1, limit: 3 });
    expect(page.connections.map((row: { connectionId: string }) => row.connectionId)).toEqual(['healthy']);
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/connection?status=broken' })).json().type).toBe('invalid_query_params');
  });

  it('shows a connection’s details without its secrets, and the token on request (audited)', async () => {
    const details = (await open.app.inject({ method: 'GET', url: '/api/v1/connection/healthy/details?provider_config_key=oauth' })).json();
    expect(details.connection).toMatchObject({ connectionId: 'healthy', credentialsType: 'OAUTH2', tokenType: 'bearer', scopes: ['read', 'write'], scopesSource: 'granted', hasRefreshToken: true, metadata: { plan: 'pro' }, endUser: { id: 'u-1' }, status: 'healthy' });
    expect(JSON.stringify(details)).not.toMatch(/token-healthy|"good"/);
    expect(details.events).toEqual([expect.objectContaining({ action: 'connection.create' })]);

    const revealed = (await open.app.inject({ method: 'GET', url: '/api/v1/connection/healthy?provider_config_key=oauth' })).json();
    expect(revealed.connection).toMatchObject({ connectionId: 'healthy', providerConfigKey: 'oauth', provider: 'oauth-test', oauthType: 'OAUTH2', accessToken: 'token-healthy', refreshToken: 'good', connectionMetadata: { plan: 'pro' } });
    const read = await database.knex('_custody_audit_log').where({ action: 'credentials.read', connection_id: 'healthy' }).first();
    expect(read.principal).toBe('dashboard:(open dashboard)');
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/connection/healthy' })).json().type).toBe('missing_provider_config');
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/connection/nobody/details?provider_config_key=oauth' })).json().type).toBe('unkown_connection');
  });

  it('refreshes on demand; a refused refresh is recorded and the connection shows "refresh failed"', async () => {
    const refreshed = await open.app.inject({ method: 'POST', url: '/api/v1/connection/expiring/refresh?provider_config_key=oauth' });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().connection).toMatchObject({ status: 'healthy', lastRefreshSuccess: expect.any(String), scopes: ['read', 'write'] });

    const refused = await open.app.inject({ method: 'POST', url: '/api/v1/connection/failing/refresh?provider_config_key=oauth' });
    expect(refused.statusCode).toBe(502);
    expect(refused.json()).toMatchObject({ type: 'refresh_token_external_error', error: expect.stringContaining('could not be refreshed') });
    const row = (await list('?status=refresh_failed')).connections;
    expect(row).toEqual([expect.objectContaining({ connectionId: 'failing', status: 'refresh_failed', refreshAttempts: 1, lastRefreshError: expect.stringContaining('invalid_grant'), lastRefreshFailure: expect.any(String) })]);
    const events = (await open.app.inject({ method: 'GET', url: '/api/v1/connection/failing/details?provider_config_key=oauth' })).json().events;
    expect(events.map((event: { action: string }) => event.action)).toContain('connection.refresh_failed');

    const notRenewable = await open.app.inject({ method: 'POST', url: '/api/v1/connection/expired/refresh?provider_config_key=oauth' });
    expect(notRenewable.statusCode).toBe(400);
    expect(notRenewable.json().error).toMatch(/no refresh token/);
  });

  it('deletes a connection', async () => {
    expect((await open.app.inject({ method: 'DELETE', url: '/api/v1/connection/expired?provider_config_key=oauth' })).statusCode).toBe(200);
    const again = await open.app.inject({ method: 'DELETE', url: '/api/v1/connection/expired?provider_config_key=oauth' });
    expect(again.statusCode).toBe(400);
    expect(again.json().type).toBe('unkown_connection');
    expect((await list()).total).toBe(3);
    expect((await open.app.inject({ method: 'GET', url: '/api/v1/integration' })).json().integrations.find((item: { uniqueKey: string }) => item.uniqueKey === 'oauth').connectionCount).toBe(3);
  });
});

describe('the web UI files', () => {
  it('serves the dashboard at / and for unknown page paths, with a strict CSP and the server settings injected', async () => {
    for (const url of ['/', '/dashboard/integrations', '/dashboard/connections/oauth/healthy', '/some/bookmarked/page']) {
      const response = await open.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['content-security-policy']).toMatch(/script-src 'self'; .*frame-ancestors 'none'/);
      expect(response.body).toContain('<meta name="custody-config" content="{&quot;serverUrl&quot;:&quot;http://custody.test&quot;');
      expect(response.body).toMatch(/<script type="module" crossorigin src="\/assets\/dashboard-[\w-]+\.js">/);
    }
  });

  it('answers a JSON 404 for unknown API paths and missing files, never the page', async () => {
    for (const url of ['/api/v1/nothing', '/connections/a/b/c', '/config/a/b', '/assets/missing.js', '/robots.txt', '/connect/nothing', '/assets/..%2f..%2fpackage.json']) {
      const response = await open.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({ type: 'not_found' });
    }
    // The connect-session API keeps its routes below the Connect UI's path.
    expect((await open.app.inject({ method: 'GET', url: '/connect/session' })).statusCode).toBe(401);
  });

  it('serves hashed assets with their content type for a year, other files for an hour', async () => {
    const files = readdirSync(path.join(WEB_ROOT, 'assets'));
    const js = files.find((file) => file.endsWith('.js'));
    const css = files.find((file) => file.endsWith('.css'));
    const script = await open.app.inject({ method: 'GET', url: `/assets/${js}` });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await open.app.inject({ method: 'GET', url: `/assets/${css}` })).headers['content-type']).toBe('text/css; charset=utf-8');
    const icon = await open.app.inject({ method: 'GET', url: '/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('public, max-age=3600');
  });

  it('serves the Connect UI at /connect and /connect/ for iframes on any origin, keeping the session token out of referrers', async () => {
    for (const url of ['/connect', '/connect/', '/connect/?session_token=nango_connect_session_x&apiURL=http%3A%2F%2Fcustody.test']) {
      const response = await open.app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      expect(response.body).toMatch(/src="\/assets\/connect-[\w-]+\.js"/);
      expect(response.headers['x-frame-options']).toBeUndefined();
      expect(response.headers['content-security-policy']).not.toContain('frame-ancestors');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('serves the Connect UI at the path of NANGO_PUBLIC_CONNECT_URL, and at the root of a dedicated connect host', async () => {
    const config = { serverUrl: 'http://custody.test', callbackUrl: 'http://custody.test/oauth/callback', dashboard: undefined };
    const custom = Fastify();
    await registerStaticWeb(custom, { config: { ...config, publicConnectUrl: 'http://custody.test/link-account' } });
    expect((await custom.inject({ method: 'GET', url: '/link-account/' })).body).toMatch(/assets\/connect-/);
    expect((await custom.inject({ method: 'GET', url: '/connect' })).body).toMatch(/assets\/connect-/);
    await custom.close();

    const dedicated = Fastify();
    await registerStaticWeb(dedicated, { config: { ...config, publicConnectUrl: 'https://connect.custody.test' } });
    expect((await dedicated.inject({ method: 'GET', url: '/?session_token=x' })).body).toMatch(/assets\/connect-/);
    expect((await dedicated.inject({ method: 'GET', url: '/' })).body).toMatch(/assets\/dashboard-/);
    await dedicated.close();
  });

  it('explains how to build the UI when it is not built', async () => {
    const bare = Fastify();
    await registerStaticWeb(bare, { root: scratchDir('no-web'), config: { serverUrl: SERVER_URL, callbackUrl: `${SERVER_URL}/oauth/callback`, publicConnectUrl: `${SERVER_URL}/connect`, dashboard: undefined } });
    const response = await bare.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(503);
    expect(response.body).toContain('npm run build:web');
    await bare.close();
  });
});
