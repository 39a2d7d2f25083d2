import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { refusal, rehost, startDocumentedProvider, tokens, type DocumentedProvider } from './support/documented-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * The built-in entries of providers whose documented rules a naive OAuth client breaks, each driven against a
 * stand-in on 127.0.0.1 that enforces those rules: Auth0's client credentials need an audience, commercetools
 * authenticates the client with HTTP Basic only, Figma and Dropbox Sign refresh only at their refresh endpoints.
 * Only the hosts of the built-in URLs are replaced (paths and queries are the catalog's own).
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const AUDIENCE = 'https://api.acme.test/';
const builtIn = loadProviderCatalog();
let database: TestDatabase;
let test: TestApp;
let auth0: DocumentedProvider;
let commercetools: DocumentedProvider;
let figma: DocumentedProvider;
let dropboxSign: DocumentedProvider;

function clientOf(request: { params: Record<string, string>; basic?: { clientId: string; clientSecret: string } }) {
  return request.basic ?? { clientId: request.params['client_id'] ?? '', clientSecret: request.params['client_secret'] ?? '' };
}

beforeAll(async () => {
  auth0 = await startDocumentedProvider({
    // Auth0: a client-credentials request names the API (audience); without one (and no tenant default) it is refused.
    answer(request, provider) {
      const client = clientOf(request);
      if (request.path !== '/oauth/token' || request.params['grant_type'] !== 'client_credentials') return refusal(400, 'unsupported_grant_type', 'Only client_credentials here.');
      if (client.clientId !== provider.clientId || client.clientSecret !== provider.clientSecret) return refusal(401, 'access_denied', 'Unauthorized');
      if (!request.params['audience']) return refusal(403, 'access_denied', 'No audience parameter was provided, and no default audience has been configured');
      if (request.params['audience'] !== AUDIENCE) return refusal(403, 'access_denied', `Service not found: ${request.params['audience']}`);
      if (request.params['organization'] !== undefined && request.params['organization'] !== 'org_acme') return refusal(400, 'invalid_request', 'Unknown organization');
      return tokens('auth0', false);
    },
  });
  commercetools = await startDocumentedProvider({
    // commercetools: the client authenticates with HTTP Basic; a secret in the body as well is a second method, which OAuth forbids.
    answer(request, provider) {
      if (request.path !== '/oauth/token' || request.params['grant_type'] !== 'client_credentials') return refusal(400, 'unsupported_grant_type', 'Only client_credentials here.');
      if (!request.basic) return refusal(401, 'invalid_client', 'Please provide valid client credentials using HTTP Basic Authentication.');
      if (request.params['client_secret'] !== undefined) return refusal(400, 'invalid_request', 'The client authenticated with more than one method.');
      if (request.basic.clientId !== provider.clientId || request.basic.clientSecret !== provider.clientSecret) return refusal(401, 'invalid_client', 'Please provide valid client credentials using HTTP Basic Authentication.');
      return tokens('commercetools', false);
    },
  });
  figma = await startDocumentedProvider({
    authorizationPath: new URL(builtIn.get('figma')?.authorization_url ?? '').pathname,
    // Figma: codes are exchanged at /v1/oauth/token, refresh tokens only at /v1/oauth/refresh (which answers no new refresh token).
    answer(request, provider) {
      const client = clientOf(request);
      if (client.clientId !== provider.clientId || client.clientSecret !== provider.clientSecret) return refusal(401, 'invalid_client', 'Invalid client.');
      if (request.path === '/v1/oauth/token') {
        if (request.params['grant_type'] !== 'authorization_code') return refusal(400, 'invalid_grant', 'Refresh tokens are exchanged at /v1/oauth/refresh.');
        return provider.redeemCode(request.params['code'] ?? '') ? tokens('figma') : refusal(400, 'invalid_grant', 'Unknown code.');
      }
      if (request.path === '/v1/oauth/refresh') {
        return request.params['refresh_token']?.startsWith('figma-refresh-') ? tokens('figma-refreshed', false) : refusal(400, 'invalid_grant', 'Unknown refresh token.');
      }
      return refusal(404, 'not_found', 'No such endpoint.');
    },
  });
  dropboxSign = await startDocumentedProvider({
    authorizationPath: new URL(builtIn.get('dropbox-sign')?.authorization_url ?? '').pathname,
    // Dropbox Sign: one path, two operations; a refresh is only understood as the `?refresh` operation.
    answer(request, provider) {
      const client = clientOf(request);
      if (request.path !== '/oauth/token') return refusal(404, 'not_found', 'No such endpoint.');
      if (client.clientId !== provider.clientId || client.clientSecret !== provider.clientSecret) return refusal(401, 'invalid_client', 'Invalid client.');
      if (request.query === 'refresh') {
        return request.params['grant_type'] === 'refresh_token' && request.params['refresh_token']?.startsWith('dropbox-sign-refresh-') ? tokens('dropbox-sign') : refusal(400, 'invalid_grant', 'Unknown refresh token.');
      }
      if (request.params['grant_type'] !== 'authorization_code') return refusal(400, 'invalid_grant', 'Refresh at /oauth/token?refresh.');
      return provider.redeemCode(request.params['code'] ?? '') ? tokens('dropbox-sign') : refusal(400, 'invalid_grant', 'Unknown code.');
    },
  });

  const figmaTemplate = builtIn.get('figma');
  const dropboxSignTemplate = builtIn.get('dropbox-sign');
  const { catalog } = catalogWith({
    auth0: { token_url: `${auth0.origin}/oauth/token` },
    'auth0-cc': { token_url: `${auth0.origin}/oauth/token` },
    commercetools: { token_url: `${commercetools.origin}/oauth/token` },
    figma: {
      authorization_url: rehost(figmaTemplate?.authorization_url, figma.origin),
      token_url: rehost(figmaTemplate?.token_url, figma.origin),
      refresh_url: rehost(figmaTemplate?.refresh_url, figma.origin),
    },
    // A template whose popup flow sends connection parameters in the authorization and token requests.
    'figma-with-audience': {
      alias: 'figma',
      authorization_url: rehost(figmaTemplate?.authorization_url, figma.origin),
      token_url: rehost(figmaTemplate?.token_url, figma.origin),
      refresh_url: rehost(figmaTemplate?.refresh_url, figma.origin),
      authorization_params: { audience: '${connectionConfig.audience}' },
      token_params: { audience: '${connectionConfig.audience}' },
      connection_config: { audience: { title: 'Audience', description: 'The API the token is for', example: 'files', pattern: '^[a-z]+$' } },
    },
    'dropbox-sign': {
      authorization_url: rehost(dropboxSignTemplate?.authorization_url, dropboxSign.origin),
      token_url: rehost(dropboxSignTemplate?.token_url, dropboxSign.origin),
      refresh_url: rehost(dropboxSignTemplate?.refresh_url, dropboxSign.origin),
    },
  });
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 5_000 });
  for (const [key, provider, standIn] of [['auth0', 'auth0', auth0], ['auth0-cc', 'auth0-cc', auth0], ['commercetools', 'commercetools', commercetools], ['figma', 'figma', figma], ['figma-with-audience', 'figma-with-audience', figma], ['dropbox-sign', 'dropbox-sign', dropboxSign]] as const) {
    const response = await test.app.inject({
      method: 'POST',
      url: '/integrations',
      headers: { authorization: 'Bearer sk' },
      payload: { unique_key: key, provider, credentials: { type: 'OAUTH2', client_id: standIn.clientId, client_secret: standIn.clientSecret, scopes: '' } },
    });
    expect(response.statusCode, response.body).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  await Promise.all([auth0, commercetools, figma, dropboxSign].map((standIn) => standIn?.close()));
});

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

function connectClientCredentials(key: string, connectionId: string, params: Record<string, string>) {
  const query = Object.entries(params).map(([name, value]) => `params[${name}]=${encodeURIComponent(value)}`).join('&');
  return test.app.inject({ method: 'POST', url: `/oauth2/auth/${key}?connection_id=${connectionId}&hmac=${hmac(key, connectionId)}&${query}`, payload: {} });
}

async function readConnection(key: string, connectionId: string, query = '') {
  return test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=${key}${query}`, headers: { authorization: 'Bearer sk' } });
}

/** The popup flow, walked like a browser: our connect page, the stand-in's authorization page, our callback. */
async function connectPopup(key: string, connectionId: string) {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/${key}?connection_id=${connectionId}&hmac=${hmac(key, connectionId)}` });
  expect(start.statusCode, start.body).toBe(302);
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  return test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
}

async function expireToken(key: string, connectionId: string): Promise<void> {
  const row = await database.knex('_nango_connections').where({ provider_config_key: key, connection_id: connectionId }).first();
  row.credentials.expires_at = new Date(Date.now() + 60_000).toISOString();
  await database.knex('_nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(row.credentials) });
}

describe('Auth0 client credentials', () => {
  it('sends the audience the connection was made with, and stores the token Auth0 issues for it', async () => {
    const response = await connectClientCredentials('auth0', 'a1', { domain: 'acme.auth0.test', audience: AUDIENCE });
    expect(response.statusCode, response.body).toBe(200);
    expect(auth0.requests.at(-1)?.params).toMatchObject({ grant_type: 'client_credentials', audience: AUDIENCE });
    expect(auth0.requests.at(-1)?.params).not.toHaveProperty('organization');
    expect((await readConnection('auth0', 'a1')).json().credentials).toMatchObject({ type: 'OAUTH2_CC', token: expect.stringMatching(/^auth0-access-/) });
  });

  it('refuses a connection without an audience with a 400 naming params[audience], and asks Auth0 nothing', async () => {
    const before = auth0.requests.length;
    const response = await connectClientCredentials('auth0', 'a2', { domain: 'acme.auth0.test' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'invalid_query_params', message: expect.stringContaining('params[audience]') });
    expect(auth0.requests.length).toBe(before);
    expect((await readConnection('auth0', 'a2')).statusCode).toBe(404);
  });

  it('sends the organization when the connection names one', async () => {
    const response = await connectClientCredentials('auth0', 'a3', { domain: 'acme.auth0.test', audience: AUDIENCE, organization: 'org_acme' });
    expect(response.statusCode, response.body).toBe(200);
    expect(auth0.requests.at(-1)?.params).toMatchObject({ audience: AUDIENCE, organization: 'org_acme' });
  });

  it('renews an expiring token with the same audience', async () => {
    await connectClientCredentials('auth0', 'a4', { domain: 'acme.auth0.test', audience: AUDIENCE });
    const first = (await readConnection('auth0', 'a4')).json().credentials.token;
    await expireToken('auth0', 'a4');
    const renewed = await readConnection('auth0', 'a4');
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(renewed.json().credentials.token).not.toBe(first);
    expect(auth0.requests.at(-1)?.params).toMatchObject({ grant_type: 'client_credentials', audience: AUDIENCE });
  });

  it('works under Nango\'s name auth0-cc, with its hostname parameter and a JSON body', async () => {
    const response = await connectClientCredentials('auth0-cc', 'a5', { hostname: 'acme.auth0.test', audience: AUDIENCE });
    expect(response.statusCode, response.body).toBe(200);
    expect(auth0.requests.at(-1)).toMatchObject({ contentType: 'application/json', params: { audience: AUDIENCE } });
  });
});

describe('commercetools client credentials', () => {
  it('authenticates the client with HTTP Basic only, and stores the token', async () => {
    const response = await connectClientCredentials('commercetools', 'c1', { region: 'europe-west1', cloudProvider: 'gcp', projectKey: 'my-shop' });
    expect(response.statusCode, response.body).toBe(200);
    const request = commercetools.requests.at(-1);
    expect(request?.basic).toEqual({ clientId: commercetools.clientId, clientSecret: commercetools.clientSecret });
    expect(request?.params).not.toHaveProperty('client_secret');
    expect((await readConnection('commercetools', 'c1')).json().credentials).toMatchObject({ type: 'OAUTH2_CC', token: expect.stringMatching(/^commercetools-access-/) });
  });
});

describe('Figma', () => {
  it('exchanges the code at its token endpoint and refreshes at /v1/oauth/refresh, keeping the refresh token it has', async () => {
    const callback = await connectPopup('figma', 'f1');
    expect(callback.statusCode, callback.body).toBe(200);
    const stored = (await readConnection('figma', 'f1', '&refresh_token=true')).json().credentials;
    const refreshed = await readConnection('figma', 'f1', '&force_refresh=true&refresh_token=true');
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(figma.requests.map((request) => request.path)).toEqual(['/v1/oauth/token', '/v1/oauth/refresh']);
    expect(figma.requests.at(-1)?.params['refresh_token']).toBe(stored.refresh_token);
    expect(refreshed.json().credentials).toMatchObject({ access_token: expect.stringMatching(/^figma-refreshed-access-/), refresh_token: stored.refresh_token });
  });
});

describe('connection parameters in a popup flow\'s authorization and token requests', () => {
  it('are filled in from params[...] in both requests', async () => {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/figma-with-audience?connection_id=p1&hmac=${hmac('figma-with-audience', 'p1')}&params[audience]=files` });
    expect(start.statusCode, start.body).toBe(302);
    expect(new URL(String(start.headers.location)).searchParams.get('audience')).toBe('files');
    const walked = await followUntil(String(start.headers.location), CALLBACK);
    const callback = await test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
    expect(callback.statusCode, callback.body).toBe(200);
    expect(figma.requests.at(-1)?.params).toMatchObject({ grant_type: 'authorization_code', audience: 'files' });
  });

  it('refuse to start without the parameter, naming it, before the user is sent to the provider', async () => {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/figma-with-audience?connection_id=p2&hmac=${hmac('figma-with-audience', 'p2')}` });
    expect(start.statusCode).toBe(400);
    expect(start.body).toContain('params[audience]');
  });
});

describe('Dropbox Sign', () => {
  it('exchanges the code at /oauth/token and refreshes with the ?refresh operation', async () => {
    const callback = await connectPopup('dropbox-sign', 'd1');
    expect(callback.statusCode, callback.body).toBe(200);
    const before = (await readConnection('dropbox-sign', 'd1')).json().credentials.access_token;
    const refreshed = await readConnection('dropbox-sign', 'd1', '&force_refresh=true');
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(refreshed.json().credentials.access_token).not.toBe(before);
    expect(dropboxSign.requests.map((request) => `${request.path}${request.query ? `?${request.query}` : ''} ${request.params['grant_type']}`)).toEqual([
      '/oauth/token authorization_code',
      '/oauth/token?refresh refresh_token',
    ]);
  });
});
