import { createHmac, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filledUrl } from '../src/oauth/flow-template.js';
import { connectionParameterProblem } from '../src/providers/connection-parameters.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { refusal, rehost, startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { startUpstream, type SeenRequest, type UpstreamServer } from './support/upstream-server.js';

/**
 * Amazon's Selling Partner API, website authorization workflow, as its docs describe it, against stand-ins on
 * 127.0.0.1: the consent page (Seller Central) names the app by its SP-API application id, refuses a draft app
 * without `version=beta`, and sends the browser back with `spapi_oauth_code`, `state` and `selling_partner_id`
 * (no `code`); Login with Amazon exchanges a code once, for the app's LWA client id and secret in the body, and
 * refreshes; the SP-API takes the token in `x-amz-access-token`. Only the hosts of the built-in URLs are replaced.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const PUBLISHED_APP = 'amzn1.sp.solution.11111111-2222-3333-4444-555555555555';
const DRAFT_APP = 'amzn1.sp.solution.99999999-8888-7777-6666-555555555555';
const SELLER = 'A3SELLERTEST01';
const builtIn = loadProviderCatalog();
const template = builtIn.get('amazon-selling-partner');
let database: TestDatabase;
let test: TestApp;
let amazon: DocumentedProvider;
let spApi: UpstreamServer;

beforeAll(async () => {
  amazon = await startDocumentedProvider({
    authorizationPath: '/apps/authorize/consent',
    consent(query, provider) {
      // Seller Central's consent page knows apps by application id; a draft app needs version=beta (error MD1000).
      if (!query['application_id']) return page(400, 'The application_id parameter is missing.');
      if (![PUBLISHED_APP, DRAFT_APP].includes(query['application_id'])) return page(404, 'No app has this application_id.');
      if (query['application_id'] === DRAFT_APP && query['version'] !== 'beta') return page(400, 'MD1000: this app is in draft status; authorize it with version=beta.');
      if (!query['state'] || !query['redirect_uri']) return page(400, 'The state and redirect_uri parameters are required.');
      return { back: { state: query['state'], selling_partner_id: SELLER, spapi_oauth_code: provider.issueCode() } };
    },
    // Login with Amazon: client id and secret as form fields; a code is good once; refresh tokens at the same URL.
    answer(request, provider) {
      if (request.path !== '/auth/o2/token' || request.contentType !== 'application/x-www-form-urlencoded') return refusal(400, 'invalid_request', 'Form-encoded POSTs to /auth/o2/token only.');
      if (request.params['client_id'] !== provider.clientId || request.params['client_secret'] !== provider.clientSecret) return refusal(401, 'invalid_client', 'Client authentication failed');
      if (request.params['grant_type'] === 'authorization_code') {
        if (request.params['redirect_uri'] !== CALLBACK) return refusal(400, 'invalid_grant', 'The redirect_uri does not match.');
        return provider.redeemCode(request.params['code'] ?? '') ? lwaTokens() : refusal(400, 'invalid_grant', 'The request has an invalid grant parameter : code');
      }
      if (request.params['grant_type'] === 'refresh_token') {
        return request.params['refresh_token']?.startsWith('Atzr|') ? lwaTokens() : refusal(400, 'invalid_grant', 'The request has an invalid grant parameter : refresh_token');
      }
      return refusal(400, 'unsupported_grant_type', 'Unsupported grant type.');
    },
  });
  spApi = await startUpstream();
  spApi.answer = sellingPartnerApi;
  const stands = {
    authorization_url: `${amazon.origin}/apps/authorize/consent`,
    token_url: rehost(template?.token_url, amazon.origin),
    proxy: { base_url: spApi.origin },
  };
  const { catalog } = catalogWith({ 'amazon-selling-partner': stands, 'amazon-selling-partner-beta': stands });
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 5_000 });
  for (const [key, provider] of [['sp', 'amazon-selling-partner'], ['sp-beta', 'amazon-selling-partner-beta']]) {
    const response = await test.app.inject({
      method: 'POST',
      url: '/integrations',
      headers: { authorization: 'Bearer sk' },
      payload: { unique_key: key, provider, credentials: { type: 'OAUTH2', client_id: amazon.clientId, client_secret: amazon.clientSecret, scopes: '' } },
    });
    expect(response.statusCode, response.body).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  await amazon?.close();
  await spApi?.close();
});

function page(status: number, text: string) {
  return { status, body: { error: text } };
}

function lwaTokens() {
  const suffix = randomBytes(6).toString('hex');
  return { status: 200, body: { access_token: `Atza|access-${suffix}`, refresh_token: `Atzr|refresh-${suffix}`, token_type: 'bearer', expires_in: 3600 } };
}

/** The SP-API: the LWA access token in x-amz-access-token, or a 403 in its error shape. */
function sellingPartnerApi(request: SeenRequest, res: ServerResponse): void {
  const token = request.headers['x-amz-access-token'];
  if (typeof token !== 'string' || !token.startsWith('Atza|')) {
    return void res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'Unauthorized', message: 'Access to requested resource is denied.' }] }));
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ payload: [{ marketplace: { id: 'ATVPDKIKX0DER' } }] }));
}

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

function startFlow(key: string, connectionId: string, params: Record<string, string>) {
  const query = Object.entries(params).map(([name, value]) => `&params[${name}]=${encodeURIComponent(value)}`).join('');
  return test.app.inject({ method: 'GET', url: `/oauth/connect/${key}?connection_id=${connectionId}&hmac=${hmac(key, connectionId)}${query}` });
}

/** Our connect page, the consent page, and our callback, walked like a browser. */
async function connect(key: string, connectionId: string, params: Record<string, string>) {
  const start = await startFlow(key, connectionId, params);
  expect(start.statusCode, start.body).toBe(302);
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  if (!walked.url.startsWith(CALLBACK)) return { walked, callback: undefined };
  const callbackPath = walked.url.slice(walked.url.indexOf('/oauth/callback'));
  return { walked, callbackPath, callback: await test.app.inject({ method: 'GET', url: callbackPath }) };
}

function readConnection(key: string, connectionId: string, query = '') {
  return test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=${key}${query}`, headers: { authorization: 'Bearer sk' } });
}

describe('Amazon Selling Partner API: the website authorization workflow', () => {
  it('sends the seller to the consent page with the application id, state and redirect URI only, then stores the LWA tokens and the selling partner id', async () => {
    const { callback } = await connect('sp', 's1', { applicationId: PUBLISHED_APP, region: 'na' });
    expect(callback?.statusCode, callback?.body).toBe(200);
    expect(Object.keys(amazon.authorizations.at(-1) ?? {}).sort()).toEqual(['application_id', 'redirect_uri', 'state']);
    expect(amazon.authorizations.at(-1)).toMatchObject({ application_id: PUBLISHED_APP, redirect_uri: CALLBACK });
    const exchange = amazon.requests.at(-1);
    expect(Object.keys(exchange?.params ?? {}).sort()).toEqual(['client_id', 'client_secret', 'code', 'grant_type', 'redirect_uri']);
    const connection = (await readConnection('sp', 's1', '&refresh_token=true')).json();
    expect(connection.credentials).toMatchObject({ type: 'OAUTH2', access_token: expect.stringMatching(/^Atza\|/), refresh_token: expect.stringMatching(/^Atzr\|/) });
    expect(connection.connection_config).toMatchObject({ selling_partner_id: SELLER, applicationId: PUBLISHED_APP, region: 'na' });
  });

  it('refuses to start without the application id, naming params[applicationId], and sends nobody to Amazon', async () => {
    const before = amazon.authorizations.length;
    const start = await startFlow('sp', 's2', { region: 'na' });
    expect(start.statusCode).toBe(400);
    expect(start.body).toContain('params[applicationId]');
    expect(amazon.authorizations.length).toBe(before);
  });

  it('refuses a callback that carries the code as `code` rather than spapi_oauth_code, and asks Login with Amazon nothing', async () => {
    const start = await startFlow('sp', 's3', { applicationId: PUBLISHED_APP, region: 'na' });
    const state = new URL(String(start.headers.location)).searchParams.get('state');
    const before = amazon.requests.length;
    const callback = await test.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=forged&selling_partner_id=${SELLER}` });
    expect(callback.statusCode).toBe(400);
    expect(callback.body).toContain('spapi_oauth_code');
    expect(amazon.requests.length).toBe(before);
    expect((await readConnection('sp', 's3')).statusCode).toBe(404);
  });

  it('exchanges each spapi_oauth_code once: the same callback again is refused before it reaches Login with Amazon', async () => {
    const { callbackPath } = await connect('sp', 's4', { applicationId: PUBLISHED_APP, region: 'eu' });
    const before = amazon.requests.length;
    const replay = await test.app.inject({ method: 'GET', url: callbackPath ?? '' });
    expect(replay.statusCode).toBe(400);
    expect(amazon.requests.length).toBe(before);
  });

  it('refreshes at Login with Amazon with the LWA client and keeps the selling partner id', async () => {
    await connect('sp', 's5', { applicationId: PUBLISHED_APP, region: 'na' });
    const stored = (await readConnection('sp', 's5', '&refresh_token=true')).json().credentials;
    const refreshed = await readConnection('sp', 's5', '&force_refresh=true&refresh_token=true');
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(amazon.requests.at(-1)?.params).toMatchObject({ grant_type: 'refresh_token', refresh_token: stored.refresh_token, client_id: amazon.clientId, client_secret: amazon.clientSecret });
    expect(refreshed.json().credentials.access_token).not.toBe(stored.access_token);
    expect(refreshed.json().connection_config.selling_partner_id).toBe(SELLER);
  });

  it('proxies a call to the SP-API with the access token in x-amz-access-token', async () => {
    await connect('sp', 's6', { applicationId: PUBLISHED_APP, region: 'na' });
    const token = (await readConnection('sp', 's6')).json().credentials.access_token;
    const proxied = await test.app.inject({ method: 'GET', url: '/proxy/sellers/v1/marketplaceParticipations', headers: { authorization: 'Bearer sk', 'connection-id': 's6', 'provider-config-key': 'sp' } });
    expect(proxied.statusCode, proxied.body).toBe(200);
    expect(spApi.requests.at(-1)?.url).toBe('/sellers/v1/marketplaceParticipations');
    expect(spApi.requests.at(-1)?.headers['x-amz-access-token']).toBe(token);
  });
});

describe('Amazon Selling Partner API in the catalog\'s readers', () => {
  it('is offered by /providers and by the dashboard with the parameters a connection takes', async () => {
    const provider = await test.app.inject({ method: 'GET', url: '/providers/amazon-selling-partner', headers: { authorization: 'Bearer sk' } });
    expect(provider.statusCode, provider.body).toBe(200);
    expect(Object.keys(provider.json().data.connection_config)).toEqual(['applicationId', 'region', 'domain', 'subdomain']);
    const dashboard = await test.app.inject({ method: 'GET', url: '/api/v1/provider/amazon-selling-partner-beta', headers: { authorization: `Basic ${Buffer.from('admin:sk').toString('base64')}` } });
    expect(dashboard.statusCode, dashboard.body).toBe(200);
    expect(JSON.stringify(dashboard.json())).toContain('applicationId');
  });
});

describe('Amazon Selling Partner API: a draft app', () => {
  it('is refused by the consent page under the published entry, which sends no version', async () => {
    const { walked, callback } = await connect('sp', 'd1', { applicationId: DRAFT_APP, region: 'na' });
    expect(callback).toBeUndefined();
    expect(walked.lastStatus).toBe(400);
    expect(walked.lastBody).toContain('MD1000');
  });

  it('is authorized with version=beta under amazon-selling-partner-beta', async () => {
    const { callback } = await connect('sp-beta', 'd2', { applicationId: DRAFT_APP, region: 'fe' });
    expect(callback?.statusCode, callback?.body).toBe(200);
    expect(amazon.authorizations.at(-1)).toMatchObject({ application_id: DRAFT_APP, version: 'beta' });
    expect((await readConnection('sp-beta', 'd2')).json().connection_config).toMatchObject({ selling_partner_id: SELLER });
  });
});

describe('Amazon Selling Partner API: regional hosts of the built-in entry', () => {
  it('sends the seller to sellercentral.amazon.com without a domain and to the Seller Central host named', () => {
    const authorizationUrl = template?.authorization_url ?? '';
    expect(new URL(filledUrl(authorizationUrl, 'authorization_url', {})).host).toBe('sellercentral.amazon.com');
    expect(new URL(filledUrl(authorizationUrl, 'authorization_url', { domain: 'sellercentral-europe.amazon.com' })).host).toBe('sellercentral-europe.amazon.com');
    expect(new URL(filledUrl(authorizationUrl, 'authorization_url', { domain: 'sellercentral.amazon.co.jp' })).host).toBe('sellercentral.amazon.co.jp');
  });

  it('accepts only Seller Central and Vendor Central hosts as the domain, and only the documented regions', () => {
    if (!template) throw new Error('amazon-selling-partner is missing');
    expect(connectionParameterProblem(template, { applicationId: PUBLISHED_APP, region: 'eu', domain: 'vendorcentral.amazon.de' })).toBeUndefined();
    expect(connectionParameterProblem(template, { applicationId: PUBLISHED_APP, region: 'eu', domain: 'sellercentral.attacker.example' })).toContain('"domain"');
    expect(connectionParameterProblem(template, { applicationId: PUBLISHED_APP, region: 'us' })).toBe('The connection parameter "region" must be one of "na", "eu", "fe".');
  });

  it('calls the SP-API at sellingpartnerapi-na, -eu or -fe, and at the sandbox hosts when asked', () => {
    const base = template?.proxy?.base_url ?? '';
    expect(filledUrl(base, 'proxy.base_url', { region: 'na' })).toBe('https://sellingpartnerapi-na.amazon.com/');
    expect(filledUrl(base, 'proxy.base_url', { region: 'eu' })).toBe('https://sellingpartnerapi-eu.amazon.com/');
    expect(filledUrl(base, 'proxy.base_url', { region: 'fe' })).toBe('https://sellingpartnerapi-fe.amazon.com/');
    expect(filledUrl(base, 'proxy.base_url', { region: 'eu', subdomain: 'sandbox.sellingpartnerapi' })).toBe('https://sandbox.sellingpartnerapi-eu.amazon.com/');
    expect(template?.proxy?.headers).toEqual({ 'x-amz-access-token': '${accessToken}' });
    expect(template?.token_url).toBe('https://api.amazon.com/auth/o2/token');
  });
});
