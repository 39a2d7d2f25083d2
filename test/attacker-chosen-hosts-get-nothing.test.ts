import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemResolver } from '../src/net/outbound-host-guard.js';
import type { ProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { openPopupSocket, type PopupSocket } from './support/popup-socket.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { startTokenEndpoint, type TokenEndpoint } from './support/token-endpoint.js';
import { startTrapListener, type TrapListener } from './support/trap-listener.js';
import { TestResolver } from './support/test-resolver.js';

/**
 * Issue 18, finding 1: an end user of a template whose host comes from the connection (self-managed GitLab,
 * Okta, Auth0…) tried to have the server send the integration's client secret, or any request, to a host of
 * their choosing. A listener on 127.0.0.1 stands for the attacker's host: it counts the connections it accepts
 * and the bytes it receives, and must get none. A real token endpoint (a local stand-in that checks the client,
 * the code and the redirect URI) stands for the provider.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const docs = 'https://example.com/docs';
const hostField = { host: { title: 'Host', description: 'Where the tenant lives' } };

let database: TestDatabase;
let trap: TrapListener;
let provider: TokenEndpoint;
let strict: TestApp;
let strictUrl: string;
let loopbackAllowed: TestApp;
let catalog: ProviderCatalog;
const resolver = new TestResolver();
const sockets: PopupSocket[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  trap = await startTrapListener();
  provider = await startTokenEndpoint();
  ({ catalog } = catalogWith({
    'tenant-oauth2': {
      display_name: 'Tenant OAuth 2',
      auth_mode: 'OAUTH2',
      authorization_url: 'http://${connectionConfig.host}/authorize',
      token_url: 'http://${connectionConfig.host}/token',
      disable_pkce: true,
      proxy: { base_url: 'http://${connectionConfig.host}/api' },
      connection_config: hostField,
      docs,
    },
    'tenant-oauth1': {
      display_name: 'Tenant OAuth 1',
      auth_mode: 'OAUTH1',
      request_url: 'http://${connectionConfig.host}/request_token',
      authorization_url: 'http://${connectionConfig.host}/authorize',
      token_url: 'http://${connectionConfig.host}/access_token',
      connection_config: hostField,
      docs,
    },
    'tenant-cc': { display_name: 'Tenant client credentials', auth_mode: 'OAUTH2_CC', token_url: 'http://${connectionConfig.host}/token', connection_config: hostField, docs },
    'tenant-key': { display_name: 'Tenant API key', auth_mode: 'API_KEY', proxy: { base_url: 'http://${connectionConfig.host}/api' }, connection_config: hostField, docs },
    'fixed-host': { display_name: 'Fixed host', auth_mode: 'OAUTH2', authorization_url: `${provider.origin}/authorize`, token_url: `${provider.origin}/token`, docs },
  }));
  const common = { providers: catalog, providerTimeoutMs: 3_000 };
  // `localhost` goes through the operating system's resolver (/etc/hosts); every other name through the spec's.
  const hostResolver = (name: string) => (name === 'localhost' ? systemResolver(name) : resolver.resolve(name));
  strict = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK }, { ...common, hostResolver });
  strictUrl = await listenOnLoopback(strict);
  loopbackAllowed = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK, NANGO_CONNECTION_HOSTS_ALLOWED: '127.0.0.1' }, { ...common, hostResolver: resolver.resolve });
  for (const [key, providerName] of [['tenant', 'tenant-oauth2'], ['tenant1', 'tenant-oauth1'], ['tenant-cc', 'tenant-cc'], ['tenant-key', 'tenant-key'], ['fixed', 'fixed-host']]) {
    const created = await strict.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: key, provider: providerName, oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'read' },
    });
    expect(created.statusCode).toBe(200);
  }
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await strict?.close();
  await loopbackAllowed?.close();
  await trap?.close();
  await provider?.close();
  await database?.drop();
});

afterEach(() => {
  // Whatever a test tried, the attacker's host heard nothing.
  expect({ accepted: trap.accepted, bytes: trap.bytes }).toEqual({ accepted: 0, bytes: 0 });
});

async function connectSession(app: TestApp, defaults: Record<string, unknown> = {}): Promise<string> {
  const response = await app.app.inject({ method: 'POST', url: '/connect/sessions', payload: { end_user: { id: 'end-user' }, integrations_config_defaults: defaults } });
  expect(response.statusCode).toBe(201);
  return (response.json() as { data: { token: string } }).data.token;
}

async function sessionsFor(connectionId: string): Promise<number> {
  return (await database.knex('_nango_oauth_sessions').where({ connection_id: connectionId })).length;
}

async function storedConnection(connectionId: string) {
  return database.knex('_nango_connections').where({ connection_id: connectionId }).first();
}

describe('an end user who names the server\'s own network as the provider\'s host', () => {
  it('gets a 403 naming the rule and the setting for params[host]=127.0.0.1:<port>, on the page and on the WebSocket', async () => {
    const socket = await openPopupSocket(strictUrl);
    sockets.push(socket);
    const token = await connectSession(strict);
    const page = await strict.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connect_session_token=${token}&params[host]=${trap.hostPort}&ws_client_id=${socket.id}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('loopback');
    expect(page.body).toContain('NANGO_CONNECTION_HOSTS_ALLOWED');
    expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'connection_host_not_allowed', error_desc: expect.stringContaining('NANGO_CONNECTION_HOSTS_ALLOWED') });
  });

  it('starts no flow for it: no OAuth session is written', async () => {
    await strict.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connection_id=seed-user&params[host]=${trap.hostPort}` });
    expect(await sessionsFor('seed-user')).toBe(0);
  });

  it.each([
    ['a name that resolves to loopback', () => `localhost:${trap.port}`, 'loopback'],
    ['the cloud metadata address', () => '169.254.169.254', 'link-local'],
    ['the unspecified address (which Linux connects to loopback)', () => `0.0.0.0:${trap.port}`, 'unspecified'],
    ['loopback written as an IPv4-mapped IPv6 address', () => `[::ffff:127.0.0.1]:${trap.port}`, 'loopback'],
    ['loopback written as a decimal number', () => `2130706433:${trap.port}`, 'loopback'],
    ['IPv6 loopback', () => `[::1]:${trap.port}`, 'loopback'],
    ['a private address', () => '10.0.0.1', 'private'],
    ['a carrier-grade NAT address', () => '100.64.0.1', 'carrier-grade NAT'],
  ])('is refused for %s', async (_what, host, kind) => {
    const page = await strict.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connect_session_token=${await connectSession(strict)}&params[host]=${encodeURIComponent(host())}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain(kind);
  });

  it('is refused on the API key route before anything is stored, so the proxy never calls it', async () => {
    const response = await strict.app.inject({ method: 'POST', url: `/api-auth/api-key/tenant-key?connect_session_token=${await connectSession(strict)}&params[host]=${trap.hostPort}`, payload: { apiKey: 'end-user-api-key' } });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ error: { code: 'connection_host_not_allowed', message: expect.stringContaining('NANGO_CONNECTION_HOSTS_ALLOWED') } });
    expect(await database.knex('_nango_connections').where({ provider_config_key: 'tenant-key' })).toEqual([]);
  });

  it('is refused on the client credentials route: the integration\'s secret is never posted there', async () => {
    const response = await strict.app.inject({ method: 'POST', url: `/oauth2/auth/tenant-cc?connect_session_token=${await connectSession(strict)}&params[host]=${trap.hostPort}`, payload: {} });
    expect(response.statusCode).toBe(403);
    expect(await database.knex('_nango_connections').where({ provider_config_key: 'tenant-cc' })).toEqual([]);
  });

  it('is refused for OAuth 1.0a before the request token is asked for', async () => {
    const page = await strict.app.inject({ method: 'GET', url: `/oauth/connect/tenant1?connect_session_token=${await connectSession(strict)}&params[host]=${trap.hostPort}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('NANGO_CONNECTION_HOSTS_ALLOWED');
  });

  it('is refused at the call too, for a connection stored some other way (an import), by the proxy and by a refresh', async () => {
    const imported = await strict.app.inject({
      method: 'POST',
      url: '/connection',
      payload: { provider_config_key: 'tenant', connection_id: 'imported', type: 'OAUTH2', access_token: 'imported-access-token', refresh_token: 'imported-refresh-token', expires_at: new Date(Date.now() + 60_000).toISOString(), connection_config: { host: trap.hostPort } },
    });
    expect(imported.statusCode).toBe(201);
    const proxied = await strict.app.inject({ method: 'GET', url: '/proxy/users', headers: { 'connection-id': 'imported', 'provider-config-key': 'tenant' } });
    expect(proxied.statusCode).toBe(403);
    expect(proxied.json()).toMatchObject({ type: 'connection_host_not_allowed' });
    const refreshed = await strict.app.inject({ method: 'GET', url: '/connection/imported?provider_config_key=tenant&force_refresh=true' });
    expect(refreshed.statusCode).toBe(403);
    expect((await storedConnection('imported')).credentials).toMatchObject({ access_token: 'imported-access-token' });
  });
});

describe('a value the operator pinned', () => {
  it('wins over the end user\'s params[host]: the flow goes to the operator\'s host and stores it', async () => {
    const token = await connectSession(loopbackAllowed, { tenant: { connection_config: { host: `127.0.0.1:${provider.port}` } } });
    const start = await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connect_session_token=${token}&params[host]=${trap.hostPort}` });
    expect(start.statusCode).toBe(302);
    const authorization = new URL(String(start.headers.location));
    expect(authorization.host).toBe(`127.0.0.1:${provider.port}`);
    const state = authorization.searchParams.get('state') ?? '';
    const { connection_id: connectionId } = await database.knex('_nango_oauth_sessions').where({ id: state }).first();
    const callback = await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=${provider.issueCode(CALLBACK)}` });
    expect(callback.statusCode).toBe(200);
    expect((await storedConnection(connectionId)).connection_config).toEqual({ host: `127.0.0.1:${provider.port}` });
  });

  it('wins on the credential routes too', async () => {
    const token = await connectSession(loopbackAllowed, { 'tenant-key': { connection_config: { host: `127.0.0.1:${provider.port}` } } });
    const response = await loopbackAllowed.app.inject({ method: 'POST', url: `/api-auth/api-key/tenant-key?connect_session_token=${token}&params[host]=${trap.hostPort}`, payload: { apiKey: 'end-user-api-key' } });
    expect(response.statusCode).toBe(200);
    const stored = await storedConnection(response.json().connectionId);
    expect(stored.connection_config).toEqual({ host: `127.0.0.1:${provider.port}` });
  });
});

describe('a host the operator allows with NANGO_CONNECTION_HOSTS_ALLOWED', () => {
  it('works end to end: connect, code exchange with the real token endpoint, refresh', async () => {
    const start = await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connection_id=allowed-user&params[host]=127.0.0.1:${provider.port}` });
    expect(start.statusCode).toBe(302);
    const state = new URL(String(start.headers.location)).searchParams.get('state') ?? '';
    const callback = await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=${provider.issueCode(CALLBACK)}` });
    expect(callback.statusCode).toBe(200);
    const refreshed = await loopbackAllowed.app.inject({ method: 'GET', url: '/connection/allowed-user?provider_config_key=tenant&force_refresh=true' });
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().credentials.access_token).toMatch(/^at-/);
    // Any public host would have been allowed too: the operator is told how to pin the one the app lives on.
    expect(loopbackAllowed.logs.join('')).toContain("set the integration's pinned_host");
  });

  it('lets the same host through the client credentials route', async () => {
    const response = await loopbackAllowed.app.inject({ method: 'POST', url: `/oauth2/auth/tenant-cc?connection_id=cc-user&params[host]=127.0.0.1:${provider.port}`, payload: {} });
    expect(response.statusCode).toBe(200);
  });
});

describe('an integration pinned to its host (pinned_host)', () => {
  beforeAll(async () => {
    const pinned = await loopbackAllowed.app.inject({ method: 'PATCH', url: '/integrations/tenant', payload: { pinned_host: `127.0.0.1:${provider.port}` } });
    expect(pinned.statusCode).toBe(200);
    expect(pinned.json().data.pinned_host).toBe(`127.0.0.1:${provider.port}`);
  });

  afterAll(async () => {
    await loopbackAllowed.app.inject({ method: 'PATCH', url: '/integrations/tenant', payload: { pinned_host: null } });
  });

  it('refuses a connection that names another host, even one NANGO_CONNECTION_HOSTS_ALLOWED allows', async () => {
    const page = await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/connect/tenant?connection_id=pinned-user&params[host]=${trap.hostPort}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('pinned_host');
  });

  it('fills in the host for a connection that names none, and the flow completes', async () => {
    const start = await loopbackAllowed.app.inject({ method: 'GET', url: '/oauth/connect/tenant?connection_id=pinned-user' });
    expect(start.statusCode).toBe(302);
    const state = new URL(String(start.headers.location)).searchParams.get('state') ?? '';
    expect((await loopbackAllowed.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=${provider.issueCode(CALLBACK)}` })).statusCode).toBe(200);
  });

  it('refuses calls for a connection stored before the pin, on another host', async () => {
    await database.knex('_nango_connections').where({ connection_id: 'allowed-user' }).update({ connection_config: JSON.stringify({ host: trap.hostPort }) });
    const refreshed = await loopbackAllowed.app.inject({ method: 'GET', url: '/connection/allowed-user?provider_config_key=tenant&force_refresh=true' });
    expect(refreshed.statusCode).toBe(403);
  });

  it('is refused for a provider whose URLs fix their host, and kept as set through the seed /config', async () => {
    const fixed = await loopbackAllowed.app.inject({ method: 'PATCH', url: '/integrations/fixed', payload: { pinned_host: 'example.com' } });
    expect(fixed.statusCode).toBe(400);
    expect(fixed.json().error.message).toContain('pinned_host');
    const seedUpdate = await loopbackAllowed.app.inject({
      method: 'PUT',
      url: '/config',
      payload: { provider_config_key: 'tenant', provider: 'tenant-oauth2', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'read' },
    });
    expect(seedUpdate.statusCode).toBe(200);
    expect((await loopbackAllowed.app.inject({ method: 'GET', url: '/config/tenant' })).json().config.pinned_host).toBe(`127.0.0.1:${provider.port}`);
  });

  it('is set, shown and kept through the dashboard API', async () => {
    const dashboard = loopbackAllowed.app;
    const body = { provider_config_key: 'dash-pinned', provider: 'tenant-key' };
    expect((await dashboard.inject({ method: 'POST', url: '/api/v1/integration', payload: { ...body, pinned_host: 'Jenkins.Example.com:8443' } })).statusCode).toBe(200);
    const read = async () => (await dashboard.inject({ method: 'GET', url: '/api/v1/integration/dash-pinned' })).json().integration;
    expect(await read()).toMatchObject({ pinnedHost: 'jenkins.example.com:8443', hostFromConnection: true });
    expect((await dashboard.inject({ method: 'PUT', url: '/api/v1/integration', payload: body })).statusCode).toBe(200);
    expect((await read()).pinnedHost).toBe('jenkins.example.com:8443');
    expect((await dashboard.inject({ method: 'PUT', url: '/api/v1/integration', payload: { ...body, pinned_host: '' } })).statusCode).toBe(200);
    expect((await read()).pinnedHost).toBeNull();
    expect((await dashboard.inject({ method: 'GET', url: '/api/v1/provider/tenant-key' })).json().provider.hostFromConnection).toBe(true);
  });

  it('is refused when it is not a host', async () => {
    const response = await loopbackAllowed.app.inject({ method: 'PATCH', url: '/integrations/tenant', payload: { pinned_host: 'https://gitlab.example.com/path' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('pinned_host must be a host name');
  });
});

describe('a name that resolves elsewhere once checked (DNS rebinding)', () => {
  /** The provider on 127.0.0.2 (allowed as 127.0.0.2/32), and the attacker on 127.0.0.1 at the same port. */
  let endpoint: TokenEndpoint;
  let attacker: TrapListener;
  let rebinding: TestApp;
  const name = 'idp.rebind.test';

  beforeAll(async () => {
    for (let attempt = 0; !attacker; attempt++) {
      endpoint = await startTokenEndpoint({ host: '127.0.0.2' });
      try {
        attacker = await startTrapListener({ port: endpoint.port });
      } catch (error) {
        await endpoint.close();
        if (attempt === 4) throw error;
      }
    }
    resolver.set(name, ['127.0.0.2']);
    rebinding = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK, NANGO_CONNECTION_HOSTS_ALLOWED: '127.0.0.2/32' }, { providers: catalog, providerTimeoutMs: 3_000, hostResolver: resolver.resolve });
    const created = await rebinding.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: 'rebind', provider: 'tenant-oauth2', oauth_client_id: endpoint.clientId, oauth_client_secret: endpoint.clientSecret, oauth_scopes: 'read' },
    });
    expect(created.statusCode).toBe(200);
  });

  afterAll(async () => {
    await rebinding?.close();
    await attacker?.close();
    await endpoint?.close();
  });

  afterEach(() => {
    resolver.set(name, ['127.0.0.2']);
    expect({ accepted: attacker.accepted, bytes: attacker.bytes }).toEqual({ accepted: 0, bytes: 0 });
  });

  async function startFlow(connectionId: string): Promise<string> {
    const start = await rebinding.app.inject({ method: 'GET', url: `/oauth/connect/rebind?connection_id=${connectionId}&params[host]=${name}:${endpoint.port}` });
    expect(start.statusCode).toBe(302);
    return new URL(String(start.headers.location)).searchParams.get('state') ?? '';
  }

  it('is refused when the connection is made if the name resolves to loopback then', async () => {
    resolver.set(name, ['127.0.0.1']);
    const page = await rebinding.app.inject({ method: 'GET', url: `/oauth/connect/rebind?connection_id=rebind-0&params[host]=${name}:${endpoint.port}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('resolves to a loopback address');
  });

  it('is refused at the code exchange when the name moved to loopback after the connect was allowed', async () => {
    const state = await startFlow('rebind-1');
    resolver.set(name, ['127.0.0.1']);
    const page = await rebinding.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=${endpoint.issueCode(CALLBACK)}` });
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('loopback');
    expect(await storedConnection('rebind-1')).toBeUndefined();
  });

  it('is refused at a refresh and at a proxy call when the name moved after the connection was made; back where it was, both work', async () => {
    const state = await startFlow('rebind-2');
    expect((await rebinding.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=${endpoint.issueCode(CALLBACK)}` })).statusCode).toBe(200);
    const before = (await storedConnection('rebind-2')).credentials;
    const proxy = () => rebinding.app.inject({ method: 'GET', url: '/proxy/users', headers: { 'connection-id': 'rebind-2', 'provider-config-key': 'rebind' } });
    const refresh = () => rebinding.app.inject({ method: 'GET', url: '/connection/rebind-2?provider_config_key=rebind&force_refresh=true' });

    resolver.set(name, ['127.0.0.1']);
    expect((await refresh()).statusCode).toBe(403);
    expect((await proxy()).statusCode).toBe(403);
    expect((await storedConnection('rebind-2')).credentials).toEqual(before);

    resolver.set(name, ['127.0.0.2']);
    expect((await refresh()).statusCode).toBe(200);
    // The stand-in has no API: its 404 shows the proxied call reached the provider's address.
    expect((await proxy()).statusCode).toBe(404);
  });

  it('is refused when the name resolves to an allowed address and a loopback one at once', async () => {
    resolver.set(name, ['127.0.0.2', '127.0.0.1']);
    const page = await rebinding.app.inject({ method: 'GET', url: `/oauth/connect/rebind?connection_id=rebind-3&params[host]=${name}:${endpoint.port}` });
    expect(page.statusCode).toBe(403);
  });
});

describe('the token endpoint\'s answer', () => {
  it('never reaches the popup: the page names the provider\'s error code, the debug log has the answer with tokens blanked', async () => {
    provider.override = (res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: 'internal-detail-marker', id_token: 'leaked-id-token-value' }));
    try {
      const socket = await openPopupSocket(strictUrl);
      sockets.push(socket);
      const start = await strict.app.inject({ method: 'GET', url: `/oauth/connect/fixed?connection_id=body-user&ws_client_id=${socket.id}` });
      const state = new URL(String(start.headers.location)).searchParams.get('state') ?? '';
      const page = await strict.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=any-code` });
      expect(page.statusCode).toBe(502);
      expect(page.body).toContain('invalid_grant');
      expect(page.body).not.toContain('internal-detail-marker');
      const message = await socket.next;
      expect(message).toMatchObject({ message_type: 'error', error_type: 'token_err' });
      expect(JSON.stringify(message)).not.toContain('internal-detail-marker');
      const logs = strict.logs.join('');
      expect(logs).toContain('internal-detail-marker');
      expect(logs).not.toContain('leaked-id-token-value');
    } finally {
      provider.override = undefined;
    }
  });

  it('is not quoted when it is no token response at all', async () => {
    provider.override = (res) => res.writeHead(500, { 'content-type': 'text/html' }).end('<html>internal page marker access_token=leaked-html-token</html>');
    try {
      const start = await strict.app.inject({ method: 'GET', url: '/oauth/connect/fixed?connection_id=html-user' });
      const state = new URL(String(start.headers.location)).searchParams.get('state') ?? '';
      const page = await strict.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=any-code` });
      expect(page.statusCode).toBe(502);
      expect(page.body).toContain('not a token response');
      expect(page.body).not.toContain('internal page marker');
      expect(strict.logs.join('')).not.toContain('leaked-html-token');
    } finally {
      provider.override = undefined;
    }
  });
});
