import { createHmac, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { rehost, startDocumentedProvider, type DocumentedProvider, type StandInAnswer } from './support/documented-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { startUpstream, type SeenRequest, type UpstreamServer } from './support/upstream-server.js';

/**
 * TikTok's API for Business, as its docs describe it, against stand-ins on 127.0.0.1: the portal's authorization
 * page names the app by `app_id` and sends the browser back with `auth_code` and `state`; the token endpoint takes
 * only a JSON body of exactly `app_id`, `secret` and `auth_code`, and answers every request with HTTP 200 and an
 * envelope `{code, message, request_id, data}` whose non-zero `code` is a refusal; the token in `data` does not
 * expire; the API takes it in the `Access-Token` header. Only the hosts of the built-in URLs are replaced.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const ADVERTISERS = ['7001234567890123456', '7009876543210987654'];
const builtIn = loadProviderCatalog();
const template = builtIn.get('tiktok-ads');
let database: TestDatabase;
let test: TestApp;
let tiktok: DocumentedProvider;
let businessApi: UpstreamServer;
/** Set by a test: codes issued from now on have expired by the time they are exchanged. */
let codesExpire = false;

function envelope(code: number, message: string, data: Record<string, unknown> = {}): StandInAnswer {
  return { status: 200, body: { code, message, request_id: randomBytes(8).toString('hex'), data } };
}

beforeAll(async () => {
  tiktok = await startDocumentedProvider({
    authorizationPath: new URL(template?.authorization_url ?? '').pathname,
    consent(query, provider) {
      if (query['app_id'] !== provider.clientId) return { status: 400, body: { error: 'The app_id is missing or unknown.' } };
      if (!query['state'] || !query['redirect_uri']) return { status: 400, body: { error: 'The state and redirect_uri parameters are required.' } };
      const code = provider.issueCode();
      if (codesExpire) provider.redeemCode(code);
      return { back: { auth_code: code, state: query['state'] } };
    },
    answer(request, provider) {
      if (request.path !== '/open_api/v1.3/oauth2/access_token/' || request.method !== 'POST') return envelope(40002, 'No such endpoint.');
      if (request.contentType !== 'application/json') return envelope(40002, 'The request body must be JSON.');
      const fields = Object.keys(request.params).sort();
      if (fields.join(',') !== 'app_id,auth_code,secret') return envelope(40002, `Unexpected fields: ${fields.join(', ')}.`);
      if (request.params['app_id'] !== provider.clientId || request.params['secret'] !== provider.clientSecret) return envelope(40001, 'The app_id or secret is invalid.');
      if (!provider.redeemCode(request.params['auth_code'] ?? '')) return envelope(40131, 'Authorization code is expired.');
      return envelope(0, 'OK', { access_token: `tiktok-${randomBytes(12).toString('hex')}`, advertiser_ids: ADVERTISERS, scope: [4, 5, 6] });
    },
  });
  businessApi = await startUpstream();
  businessApi.answer = marketingApi;
  const { catalog } = catalogWith({
    'tiktok-ads': {
      authorization_url: rehost(template?.authorization_url, tiktok.origin),
      token_url: rehost(template?.token_url, tiktok.origin),
      proxy: { base_url: businessApi.origin },
    },
  });
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 5_000 });
  const response = await test.app.inject({
    method: 'POST',
    url: '/integrations',
    headers: { authorization: 'Bearer sk' },
    payload: { unique_key: 'ads', provider: 'tiktok-ads', credentials: { type: 'OAUTH2', client_id: tiktok.clientId, client_secret: tiktok.clientSecret, scopes: '' } },
  });
  expect(response.statusCode, response.body).toBe(200);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  await tiktok?.close();
  await businessApi?.close();
});

/** The Marketing API: the token in the Access-Token header, or its envelope with code 40104. */
function marketingApi(request: SeenRequest, res: ServerResponse): void {
  const token = request.headers['access-token'];
  const body = typeof token === 'string' && token.startsWith('tiktok-')
    ? { code: 0, message: 'OK', request_id: 'r1', data: { list: [{ advertiser_id: ADVERTISERS[0] }] } }
    : { code: 40104, message: 'The access_token is empty.', request_id: 'r2', data: {} };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

/** Our connect page, TikTok's authorization page, and our callback, walked like a browser. */
async function connect(connectionId: string) {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/ads?connection_id=${connectionId}&hmac=${hmac('ads', connectionId)}` });
  expect(start.statusCode, start.body).toBe(302);
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  expect(walked.url.startsWith(CALLBACK), walked.lastBody).toBe(true);
  return test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
}

function readConnection(connectionId: string, query = '') {
  return test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=ads${query}`, headers: { authorization: 'Bearer sk' } });
}

describe('TikTok Ads: advertiser authorization', () => {
  it('sends the advertiser to the portal with app_id, state and redirect_uri only', async () => {
    const callback = await connect('t1');
    expect(callback.statusCode, callback.body).toBe(200);
    expect(Object.keys(tiktok.authorizations.at(-1) ?? {}).sort()).toEqual(['app_id', 'redirect_uri', 'state']);
    expect(tiktok.authorizations.at(-1)?.['redirect_uri']).toBe(CALLBACK);
  });

  it('exchanges auth_code with a JSON body of exactly app_id, secret and auth_code', async () => {
    await connect('t2');
    const exchange = tiktok.requests.at(-1);
    expect(exchange?.contentType).toBe('application/json');
    expect(exchange?.params).toEqual({ app_id: tiktok.clientId, secret: tiktok.clientSecret, auth_code: expect.stringMatching(/^code-/) });
  });

  it('stores the token TikTok wraps in data, with no expiry and no refresh token, and keeps the advertiser ids', async () => {
    await connect('t3');
    const connection = (await readConnection('t3', '&refresh_token=true')).json();
    expect(connection.credentials).toMatchObject({ type: 'OAUTH2', access_token: expect.stringMatching(/^tiktok-/) });
    expect(connection.credentials.expires_at ?? null).toBeNull();
    expect(connection.credentials.refresh_token ?? null).toBeNull();
    expect(connection.connection_config).toMatchObject({ advertiser_ids: ADVERTISERS, scope: ['4', '5', '6'] });
  });

  it('treats an HTTP 200 envelope with a non-zero code as a failed exchange that names the code, and stores nothing', async () => {
    codesExpire = true;
    try {
      const callback = await connect('t4');
      expect(callback.statusCode).toBe(502);
      expect(callback.body).toContain('40131');
      expect(tiktok.requests.at(-1)?.params).toHaveProperty('auth_code');
    } finally {
      codesExpire = false;
    }
    expect((await readConnection('t4')).statusCode).toBe(404);
  });
});

describe('TikTok Ads: API calls', () => {
  it('proxies a call with the token in the Access-Token header', async () => {
    await connect('t5');
    const token = (await readConnection('t5')).json().credentials.access_token;
    const proxied = await test.app.inject({ method: 'GET', url: '/proxy/open_api/v1.3/oauth2/advertiser/get/', headers: { authorization: 'Bearer sk', 'connection-id': 't5', 'provider-config-key': 'ads' } });
    expect(proxied.statusCode, proxied.body).toBe(200);
    expect(proxied.json()).toMatchObject({ code: 0 });
    expect(businessApi.requests.at(-1)?.url).toBe('/open_api/v1.3/oauth2/advertiser/get/');
    expect(businessApi.requests.at(-1)?.headers['access-token']).toBe(token);
  });

  it('reaches business-api.tiktok.com in the built-in entry', () => {
    expect(template?.proxy).toEqual({ base_url: 'https://business-api.tiktok.com', headers: { 'access-token': '${accessToken}' } });
    expect(template?.authorization_url).toBe('https://business-api.tiktok.com/portal/auth');
    expect(template?.token_url).toBe('https://business-api.tiktok.com/open_api/v1.3/oauth2/access_token/');
  });
});
