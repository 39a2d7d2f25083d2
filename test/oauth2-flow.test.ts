import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
let database: TestDatabase;
let provider: AuthorizationServer;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  provider = await startAuthorizationServer({ redirectUris: [CALLBACK] });
  const { catalog } = catalogWith({
    'oidc-test': oidcTestProvider(provider.issuer),
    'oidc-tenant': oidcTestProvider(provider.issuer, {
      authorization_url: `${provider.issuer.replace('127.0.0.1', '${connectionConfig.host}')}/auth`,
      token_url: `${provider.issuer.replace('127.0.0.1', '${connectionConfig.params.host}')}/token`,
      connection_config: { host: { title: 'Host', description: 'Where the tenant lives', example: '127.0.0.1', pattern: '^[0-9.]+$' } },
    }),
  });
  // The tenant template's host comes from the connection; the local provider is on loopback, which must be allowed.
  test = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK, NANGO_CONNECTION_HOSTS_ALLOWED: '127.0.0.1' }, { providers: catalog, providerTimeoutMs: 5_000 });
});

afterAll(async () => {
  await test?.close();
  await provider?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  await createIntegration('oidc', 'oidc-test', provider.clientSecret);
});

async function createIntegration(key: string, providerName: string, clientSecret: string): Promise<void> {
  const response = await test.app.inject({
    method: 'POST',
    url: '/config',
    payload: { provider_config_key: key, provider: providerName, oauth_client_id: provider.clientId, oauth_client_secret: clientSecret, oauth_scopes: 'openid,offline_access,read' },
  });
  expect(response.statusCode).toBe(200);
}

/** Starts a flow on our server and walks the provider's screens like a browser; returns our callback's answer. */
async function connect(query: string) {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/${query}` });
  if (start.statusCode !== 302) return { start, callback: undefined, callbackUrl: undefined };
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  if (!walked.url.startsWith(CALLBACK)) return { start, callback: undefined, callbackUrl: undefined, provider: walked };
  const callback = await test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
  return { start, callback, callbackUrl: walked.url };
}

async function readConnection(connectionId: string, query = '') {
  return test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=oidc${query}` });
}

describe('starting a flow', () => {
  it('redirects to the provider with PKCE S256, a state, the scopes and the callback URL', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=user-42' });
    expect(response.statusCode).toBe(302);
    const location = new URL(String(response.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(provider.authorizationUrl);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: provider.clientId,
      redirect_uri: CALLBACK,
      scope: 'openid offline_access read',
      prompt: 'consent',
      code_challenge_method: 'S256',
      state: expect.stringMatching(/^[0-9a-f-]{36}$/),
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
  });

  it('stores the state as a session in the database', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=user-42' });
    const state = new URL(String(response.headers.location)).searchParams.get('state');
    const session = await database.knex('_nango_oauth_sessions').where({ id: state }).first();
    expect(session).toMatchObject({ provider_config_key: 'oidc', connection_id: 'user-42', auth_mode: 'OAUTH2' });
  });

  it('explains a missing connection id on the page', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('connection_id');
  });

  it('explains an unknown integration', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/nope?connection_id=u' });
    expect(response.statusCode).toBe(404);
    expect(response.body).toContain('No integration has the key');
  });

  it('names the connection parameter a template needs when it is missing', async () => {
    await createIntegration('tenant', 'oidc-tenant', provider.clientSecret);
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/tenant?connection_id=u' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('params[host]');
  });

  it('fills connection parameters into the URLs, in both placeholder spellings', async () => {
    await createIntegration('tenant', 'oidc-tenant', provider.clientSecret);
    const { callback } = await connect('tenant?connection_id=tenant-user&params[host]=127.0.0.1');
    expect(callback?.statusCode).toBe(200);
    const stored = await test.app.inject({ method: 'GET', url: '/connection/tenant-user?provider_config_key=tenant' });
    expect(stored.json().connection_config).toEqual({ host: '127.0.0.1' });
  });

  it('refuses a connection parameter that fails its pattern', async () => {
    await createIntegration('tenant', 'oidc-tenant', provider.clientSecret);
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/tenant?connection_id=u&params[host]=evil.example%2F' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('host');
  });

  it('refuses unknown query parameters by name', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=u&bogus=1' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('bogus');
  });
});

describe('completing a flow', () => {
  it('stores the tokens of the provider and reads them back with GET /connection', async () => {
    const { callback } = await connect('oidc?connection_id=user-42');
    expect(callback?.statusCode).toBe(200);
    expect(callback?.body).toContain('Connected');
    const connection = (await readConnection('user-42')).json();
    expect(connection.credentials).toMatchObject({
      type: 'OAUTH2',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_at: expect.any(String),
      raw: expect.objectContaining({ token_type: 'Bearer' }),
    });
    expect(provider.codeGrants()).toBeGreaterThan(0);
  });

  it('replaces the credentials when the same connection id connects again', async () => {
    await connect('oidc?connection_id=user-42');
    const first = (await readConnection('user-42')).json().credentials.access_token;
    await connect('oidc?connection_id=user-42');
    const second = (await readConnection('user-42')).json();
    expect(second.credentials.access_token).not.toBe(first);
    expect(await database.knex('_nango_connections').count({ n: '*' })).toEqual([{ n: '1' }]);
  });

  it('uses each state once: a replayed callback says the sign-in was already completed, and exchanges nothing', async () => {
    const { callbackUrl } = await connect('oidc?connection_id=user-42');
    const grants = provider.codeGrants();
    const replay = await test.app.inject({ method: 'GET', url: String(callbackUrl).slice(String(callbackUrl).indexOf('/oauth/callback')) });
    expect(replay.statusCode).toBe(400);
    expect(replay.body).toContain('This sign-in was already completed');
    expect(replay.body).toContain('state_already_used');
    expect(provider.codeGrants()).toBe(grants);
  });

  it('answers at once when the state is missing', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/callback?code=abc' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('without the &quot;state&quot; parameter');
  });

  it('answers at once when the state is unknown, and says so rather than "already completed"', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/oauth/callback?code=abc&state=6a1f0f0e-0000-4000-8000-000000000000' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('This sign-in is unknown');
    expect(response.body).toContain('unknown_state');
    expect(response.body).not.toContain('already completed');
  });

  it('refuses a state that only looks like a UUID (36 dashes) with a page, not a server error', async () => {
    const response = await test.app.inject({ method: 'GET', url: `/oauth/callback?code=abc&state=${'-'.repeat(36)}` });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('This sign-in link is not valid');
  });

  it('keeps no secret of a used state: the PKCE verifier is gone once the callback ran', async () => {
    const { callbackUrl } = await connect('oidc?connection_id=user-42');
    const state = new URL(String(callbackUrl)).searchParams.get('state');
    expect(await database.knex('_nango_oauth_sessions').where({ id: state }).first('code_verifier', 'consumed_at')).toEqual({ code_verifier: null, consumed_at: expect.any(Date) });
  });

  it('explains an expired state', async () => {
    const start = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=late-user' });
    const state = new URL(String(start.headers.location)).searchParams.get('state');
    await database.knex('_nango_oauth_sessions').where({ id: state }).update({ expires_at: new Date(Date.now() - 1000) });
    const response = await test.app.inject({ method: 'GET', url: `/oauth/callback?code=abc&state=${state}` });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('expired');
  });

  it('reports the user declining with the provider own words, and stores nothing', async () => {
    provider.denyNext();
    const { callback } = await connect('oidc?connection_id=user-denied');
    expect(callback?.statusCode).toBe(400);
    expect(callback?.body).toContain('access_denied');
    expect(callback?.body).toContain('The user declined the consent screen');
    expect(await database.knex('_nango_connections').where({ connection_id: 'user-denied' })).toEqual([]);
  });

  it('reports a wrong client secret and logs what to fix', async () => {
    await createIntegration('wrong-secret', 'oidc-test', 'not-the-secret');
    const { callback } = await connect('wrong-secret?connection_id=user-1');
    expect(callback?.statusCode).toBe(502);
    expect(callback?.body).toContain('invalid_client');
    expect(test.logs.join('')).toContain('client id or client secret of integration \\"wrong-secret\\" is wrong');
  });

  it('logs the exact callback URL to register when the provider rejects the redirect URL', async () => {
    const response = await test.app.inject({ method: 'GET', url: `/oauth/callback?${new URLSearchParams({ state: await startedState('mismatch-user'), error: 'redirect_uri_mismatch', error_description: 'The redirect_uri is not registered' })}` });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('redirect_uri_mismatch');
    expect(test.logs.join('')).toContain(`register exactly ${CALLBACK}`);
  });

  it('shows the provider page when the provider refuses an unregistered redirect URL, and stores nothing', async () => {
    const start = await test.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=user-x' });
    const tampered = new URL(String(start.headers.location));
    tampered.searchParams.set('redirect_uri', 'http://127.0.0.1:9/elsewhere');
    const walked = await followUntil(tampered.toString(), CALLBACK);
    expect(walked.lastStatus).toBe(400);
    expect(walked.lastBody).toContain('redirect_uri');
  });

  async function startedState(connectionId: string): Promise<string> {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/oidc?connection_id=${connectionId}` });
    return String(new URL(String(start.headers.location)).searchParams.get('state'));
  }
});

describe('refreshing tokens', () => {
  it('refreshes with force_refresh=true and stores the rotated refresh token', async () => {
    await connect('oidc?connection_id=user-42');
    const before = (await readConnection('user-42')).json().credentials;
    const grants = provider.refreshGrants();
    const after = (await readConnection('user-42', '&force_refresh=true')).json().credentials;
    expect(provider.refreshGrants()).toBe(grants + 1);
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).not.toBe(before.refresh_token);
    // The rotated token is the one that works now: a second refresh succeeds.
    const again = await readConnection('user-42', '&force_refresh=true');
    expect(again.statusCode).toBe(200);
  });

  it('refreshes a token that expires within 15 minutes when it is read', async () => {
    await connect('oidc?connection_id=user-42');
    await expireStoredToken('user-42', 10 * 60 * 1000);
    const grants = provider.refreshGrants();
    const connection = (await readConnection('user-42')).json();
    expect(provider.refreshGrants()).toBe(grants + 1);
    expect(new Date(connection.credentials.expires_at).getTime()).toBeGreaterThan(Date.now() + 30 * 60 * 1000);
  });

  it('does not refresh a token that is still good', async () => {
    await connect('oidc?connection_id=user-42');
    const grants = provider.refreshGrants();
    await readConnection('user-42');
    expect(provider.refreshGrants()).toBe(grants);
  });

  it('keeps the stored credentials and records the failure when the provider refuses the refresh', async () => {
    await connect('oidc?connection_id=user-42');
    const stored = (await readConnection('user-42')).json().credentials;
    await database.knex('_nango_configs').where({ unique_key: 'oidc' }).update({ oauth_client_secret: 'revoked-secret' });
    const response = await readConnection('user-42', '&force_refresh=true');
    expect(response.statusCode).toBe(502);
    expect(response.json()).toMatchObject({ type: 'refresh_token_external_error', payload: { external_message: expect.any(String) } });
    const row = await database.knex('_nango_connections').where({ connection_id: 'user-42' }).first();
    expect(row.credentials.refresh_token).toBe(stored.refresh_token);
    expect(row.refresh_attempts).toBe(1);
    expect(row.last_refresh_error).toContain('invalid_client');
  });

  it('refreshes once for many concurrent readers of an expired token, and all get the new token', async () => {
    await connect('oidc?connection_id=user-42');
    await expireStoredToken('user-42', -60_000);
    const grants = provider.refreshGrants();
    const responses = await Promise.all(Array.from({ length: 20 }, () => readConnection('user-42')));
    expect(provider.refreshGrants()).toBe(grants + 1);
    const tokens = new Set(responses.map((response) => response.json().credentials.access_token));
    expect(tokens.size).toBe(1);
  });

  async function expireStoredToken(connectionId: string, inMs: number): Promise<void> {
    const row = await database.knex('_nango_connections').where({ connection_id: connectionId }).first();
    row.credentials.expires_at = new Date(Date.now() + inMs).toISOString();
    await database.knex('_nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(row.credentials) });
  }
});

describe('the HMAC gate', () => {
  let gated: TestApp;
  beforeAll(async () => {
    const { catalog } = catalogWith({ 'oidc-test': oidcTestProvider(provider.issuer) });
    gated = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK, NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hmac-key' }, { providers: catalog });
  });
  afterAll(async () => gated.close());

  it('refuses a start without the digest', async () => {
    const response = await gated.app.inject({ method: 'GET', url: '/oauth/connect/oidc?connection_id=u1' });
    expect(response.statusCode).toBe(401);
    expect(response.body).toContain('HMAC');
  });

  it('refuses a wrong digest', async () => {
    const response = await gated.app.inject({ method: 'GET', url: `/oauth/connect/oidc?connection_id=u1&hmac=${'ab'.repeat(32)}` });
    expect(response.statusCode).toBe(401);
  });

  it('accepts hex(HMAC-SHA256(key, "<integration>:<connection id>"))', async () => {
    const digest = createHmac('sha256', 'hmac-key').update('oidc:u1').digest('hex');
    const response = await gated.app.inject({ method: 'GET', url: `/oauth/connect/oidc?connection_id=u1&hmac=${digest}` });
    expect(response.statusCode).toBe(302);
  });
});
