import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { interpolate } from '../src/providers/interpolation.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { refusal, rehost, startDocumentedProvider, type DocumentedProvider, type StandInAnswer, type TokenRequestSeen } from './support/documented-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * Bullhorn's built-in entry against a stand-in on 127.0.0.1 that enforces what Bullhorn documents: the code
 * is exchanged for an access token that lasts ten minutes and a refresh token that is spent once used; the
 * access token only opens a REST session (`rest-services/login`), whose `BhRestToken` every API call must carry
 * to the `restUrl` the login names; a session opened with an access token that a refresh has replaced is dead.
 * Only the hosts of the built-in URLs are replaced (paths, queries and the rest of the entry are the catalog's).
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const CORP = 'e999';
const builtIn = loadProviderCatalog();
let database: TestDatabase;
let test: TestApp;
let bullhorn: DocumentedProvider;

/** The stand-in's state: one grant chain per code, its current access and refresh tokens, and the sessions opened. */
const current = { accessTokens: new Set<string>(), refreshTokens: new Set<string>() };
const sessions = new Map<string, string>();
const standIn = { restUrlHost: '' };

function issueTokens(previousAccess?: string): StandInAnswer {
  if (previousAccess) current.accessTokens.delete(previousAccess);
  const access = `bh-access-${randomBytes(6).toString('hex')}`;
  const refresh = `bh-refresh-${randomBytes(6).toString('hex')}`;
  current.accessTokens.add(access);
  current.refreshTokens.add(refresh);
  return { status: 200, body: { access_token: access, token_type: 'Bearer', expires_in: 600, refresh_token: refresh } };
}

/** Which access token a refresh token belongs to, so a refresh retires the session of the token it replaces. */
const accessOfRefresh = new Map<string, string>();

function answer(request: TokenRequestSeen, provider: DocumentedProvider): StandInAnswer {
  const query = new URLSearchParams(request.query);
  if (request.path === '/oauth/token') {
    if (request.params['client_id'] !== provider.clientId || request.params['client_secret'] !== provider.clientSecret) return refusal(401, 'invalid_client', 'Bad client credentials.');
    let issued: StandInAnswer;
    if (request.params['grant_type'] === 'authorization_code') {
      if (!provider.redeemCode(request.params['code'] ?? '')) return refusal(400, 'invalid_grant', 'Invalid, expired, or revoked authorization code.');
      issued = issueTokens();
    } else if (request.params['grant_type'] === 'refresh_token') {
      const spent = request.params['refresh_token'] ?? '';
      // A refresh token works once: it is spent by the refresh that uses it.
      if (!current.refreshTokens.delete(spent)) return refusal(400, 'invalid_grant', 'Invalid, expired, or revoked refresh token.');
      issued = issueTokens(accessOfRefresh.get(spent));
    } else {
      return refusal(400, 'unsupported_grant_type', 'Unsupported grant type.');
    }
    accessOfRefresh.set(String(issued.body['refresh_token']), String(issued.body['access_token']));
    return issued;
  }
  if (request.path === '/rest-services/login') {
    if (request.method !== 'POST' && request.method !== 'GET') return { status: 405, body: { errorMessage: 'Method not allowed.' } };
    const access = query.get('access_token') ?? '';
    if (!query.get('version')) return { status: 400, body: { errorMessage: 'A version is required.' } };
    if (!current.accessTokens.has(access)) return { status: 401, body: { errorCode: 401, errorMessage: 'Bad \'access_token\' parameter' } };
    const session = `bh-session-${randomBytes(6).toString('hex')}`;
    sessions.set(session, access);
    return { status: 200, body: { BhRestToken: session, restUrl: `${standIn.restUrlHost}/rest-services/${CORP}/` } };
  }
  if (request.path.startsWith(`/rest-services/${CORP}/`)) {
    const session = String(request.headers['bhresttoken'] ?? query.get('BhRestToken') ?? '');
    const access = sessions.get(session);
    if (!access || !current.accessTokens.has(access)) return { status: 401, body: { errorMessage: 'Bad \'BhRestToken\' or timed-out.' } };
    return { status: 200, body: { data: { id: 1, firstName: 'Ada' } } };
  }
  return refusal(404, 'not_found', 'No such endpoint.');
}

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

beforeAll(async () => {
  const template = builtIn.get('bullhorn');
  bullhorn = await startDocumentedProvider({ authorizationPath: new URL(template?.authorization_url?.split(' || ')[1] ?? '').pathname, answer });
  standIn.restUrlHost = bullhorn.origin;
  const loginUrl = template?.post_token_request?.url.split(' || ')[1];
  const { catalog } = catalogWith({
    bullhorn: {
      authorization_url: rehost(template?.authorization_url?.split(' || ')[1], bullhorn.origin),
      token_url: rehost(template?.token_url?.split(' || ')[1], bullhorn.origin),
      post_token_request: { url: rehost(loginUrl, bullhorn.origin) },
      // A local stand-in speaks plain HTTP on loopback: the template names it exactly.
      api_base_url: { hosts: ['http://127.0.0.1'] },
    },
  });
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 5_000 });
  const response = await test.app.inject({
    method: 'POST',
    url: '/integrations',
    headers: { authorization: 'Bearer sk' },
    payload: { unique_key: 'bullhorn', provider: 'bullhorn', credentials: { type: 'OAUTH2', client_id: bullhorn.clientId, client_secret: bullhorn.clientSecret, scopes: '' } },
  });
  expect(response.statusCode, response.body).toBe(200);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  await bullhorn?.close();
});

beforeEach(() => {
  standIn.restUrlHost = bullhorn.origin;
});

/** The popup flow, walked like a browser: our connect page, the stand-in's authorization page, our callback. */
async function connect(connectionId: string) {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/bullhorn?connection_id=${connectionId}&hmac=${hmac('bullhorn', connectionId)}` });
  expect(start.statusCode, start.body).toBe(302);
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  return test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
}

async function credentialsOf(connectionId: string, query = '') {
  const response = await test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=bullhorn${query}`, headers: { authorization: 'Bearer sk' } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().credentials;
}

function proxy(connectionId: string, path = 'entity/Candidate/1') {
  return test.app.inject({ method: 'GET', url: `/proxy/${path}`, headers: { authorization: 'Bearer sk', 'connection-id': connectionId, 'provider-config-key': 'bullhorn' } });
}

const seen = (path: string) => bullhorn.requests.filter((request) => request.path === path);

describe('Bullhorn', () => {
  it('logs in to REST with the access token the code was exchanged for, and keeps the session and its restUrl', async () => {
    const callback = await connect('b1');
    expect(callback.statusCode, callback.body).toBe(200);
    const token = seen('/oauth/token').at(-1);
    expect(token?.params).toMatchObject({ grant_type: 'authorization_code' });
    expect(token?.params).not.toHaveProperty('code_verifier');
    const login = seen('/rest-services/login').at(-1);
    expect(login?.method).toBe('POST');
    expect(Object.fromEntries(new URLSearchParams(login?.query))).toMatchObject({ version: '*', access_token: expect.stringMatching(/^bh-access-/) });
    const stored = await credentialsOf('b1');
    expect(stored.post_token_values).toEqual({ BhRestToken: expect.stringMatching(/^bh-session-/) });
    expect(stored.api_base_url).toBe(`${bullhorn.origin}/rest-services/${CORP}`);
  });

  it('sends API calls to the restUrl with the BhRestToken header, and never the access token', async () => {
    await connect('b2');
    const response = await proxy('b2');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ data: { id: 1, firstName: 'Ada' } });
    const call = seen(`/rest-services/${CORP}/entity/Candidate/1`).at(-1);
    expect(call?.headers['bhresttoken']).toMatch(/^bh-session-/);
    expect(call?.headers['authorization']).toBeUndefined();
    expect(call?.query).toBe('');
  });

  it('logs in again after every refresh, with the rotated refresh token, so the proxy keeps working', async () => {
    await connect('b3');
    const before = await credentialsOf('b3', '&refresh_token=true');
    const loginsBefore = seen('/rest-services/login').length;
    const refreshed = await credentialsOf('b3', '&force_refresh=true&refresh_token=true');
    expect(seen('/oauth/token').at(-1)?.params).toMatchObject({ grant_type: 'refresh_token', refresh_token: before.refresh_token });
    expect(refreshed.refresh_token).not.toBe(before.refresh_token);
    expect(refreshed.post_token_values.BhRestToken).not.toBe(before.post_token_values.BhRestToken);
    expect(seen('/rest-services/login').length).toBeGreaterThan(loginsBefore);
    expect(new URLSearchParams(seen('/rest-services/login').at(-1)?.query).get('access_token')).toBe(refreshed.access_token);
    // The stand-in retired the first session with its access token: only the new login works.
    expect(sessions.get(before.post_token_values.BhRestToken)).toBe(before.access_token);
    expect(current.accessTokens.has(before.access_token)).toBe(false);
    const response = await proxy('b3');
    expect(response.statusCode, response.body).toBe(200);
    // Every refresh presents the token the last one rotated in, which the stand-in accepts once.
    const stored = (await database.knex('_nango_connections').where({ provider_config_key: 'bullhorn', connection_id: 'b3' }).first()).credentials;
    const again = await credentialsOf('b3', '&force_refresh=true&refresh_token=true');
    expect(seen('/oauth/token').at(-1)?.params['refresh_token']).toBe(stored.refresh_token);
    expect(again.refresh_token).not.toBe(stored.refresh_token);
  });

  it('refreshes a ten-minute token before a proxied call and sends the new session with it', async () => {
    await connect('b4');
    const tokensBefore = seen('/oauth/token').length;
    const response = await proxy('b4');
    expect(response.statusCode, response.body).toBe(200);
    // Ten minutes is inside the refresh margin: the call refreshed first, then logged in with the new token.
    expect(seen('/oauth/token').length).toBe(tokensBefore + 1);
    const stored = await test.app.inject({ method: 'GET', url: '/connections/b4?provider_config_key=bullhorn&refresh_token=true', headers: { authorization: 'Bearer sk' } });
    expect(stored.statusCode).toBe(200);
    expect(seen(`/rest-services/${CORP}/entity/Candidate/1`).at(-1)?.headers['bhresttoken']).toMatch(/^bh-session-/);
  });

  it('fails a connection whose login names a restUrl outside Bullhorn\'s hosts, and stores nothing', async () => {
    standIn.restUrlHost = 'https://rest.attacker.example';
    const callback = await connect('b5');
    expect(callback.body).toContain('is not one the provider template allows');
    const read = await test.app.inject({ method: 'GET', url: '/connections/b5?provider_config_key=bullhorn', headers: { authorization: 'Bearer sk' } });
    expect(read.statusCode).toBe(404);
  });

  it('keeps the stored session when a refresh\'s login names a host the template does not allow', async () => {
    await connect('b6');
    const before = await credentialsOf('b6', '&refresh_token=true');
    standIn.restUrlHost = 'http://169.254.169.254';
    const refresh = await test.app.inject({ method: 'GET', url: '/connections/b6?provider_config_key=bullhorn&force_refresh=true', headers: { authorization: 'Bearer sk' } });
    expect(refresh.statusCode).toBe(502);
    expect(refresh.json().error.message).toContain('is not one the provider template allows');
    const row = await database.knex('_nango_connections').where({ provider_config_key: 'bullhorn', connection_id: 'b6' }).first();
    expect(row.credentials.api_base_url).toBe(before.api_base_url);
  });
});

describe('Bullhorn data centers', () => {
  it('pick that data center\'s auth, token and login hosts, and the original hosts without one', () => {
    const template = builtIn.get('bullhorn');
    const hosts = (connectionConfig: Record<string, string>) =>
      [template?.authorization_url, template?.token_url, template?.post_token_request?.url].map((url) => new URL(interpolate(url ?? '', { connectionConfig }).value).host);
    expect(hosts({ dataCenter: 'west' })).toEqual(['auth-west.bullhornstaffing.com', 'auth-west.bullhornstaffing.com', 'rest-west.bullhornstaffing.com']);
    expect(hosts({})).toEqual(['auth.bullhornstaffing.com', 'auth.bullhornstaffing.com', 'rest.bullhornstaffing.com']);
  });

  it('refuse a data center Bullhorn does not document, before the user is sent anywhere', async () => {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/bullhorn?connection_id=dc1&hmac=${hmac('bullhorn', 'dc1')}&params[dataCenter]=mars` });
    expect(start.statusCode).toBe(400);
    expect(start.body).toContain('dataCenter');
  });
});
