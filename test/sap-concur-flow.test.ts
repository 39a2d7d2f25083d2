import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { rehost, startDocumentedProvider, type DocumentedProvider, type StandInAnswer, type TokenRequestSeen } from './support/documented-provider.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { TestResolver } from './support/test-resolver.js';

/**
 * SAP Concur's built-in entry against two stand-in data centers on 127.0.0.1 that enforce what SAP Concur
 * documents for company-level authentication: the app's client exchanges a company's UUID and request token in
 * a password grant with `credtype=authtoken` at the app's data center (here "us"); the answer's geolocation is
 * the company's data center (here "eu", reached as eu.concur.test), where every refresh and API call must go: a
 * token used at another data center is refused ("user lives elsewhere"), and a refresh token is spent when used.
 */
const COMPANY = randomUUID();
const REQUEST_TOKEN = `crt-${randomBytes(12).toString('hex')}`;
const WANDERING_COMPANY = randomUUID();
const WANDERING_TOKEN = `crt-${randomBytes(12).toString('hex')}`;
const builtIn = loadProviderCatalog();
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
let database: TestDatabase;
let test: TestApp;
let us: DocumentedProvider;
let eu: DocumentedProvider;

/** Tokens by value, with the data center they belong to; refresh tokens are deleted when spent. */
const accessTokens = new Map<string, string>();
const refreshTokens = new Map<string, string>();
const geolocationOf: Record<string, () => string> = { us: () => us.origin, eu: () => `http://eu.concur.test:${new URL(eu.origin).port}` };

function issue(home: string): StandInAnswer {
  const access = `concur-access-${randomBytes(6).toString('hex')}`;
  const refresh = `concur-refresh-${randomBytes(6).toString('hex')}`;
  accessTokens.set(access, home);
  refreshTokens.set(refresh, home);
  return { status: 200, body: { expires_in: '3600', scope: 'app-scopes', token_type: 'Bearer', access_token: access, refresh_token: refresh, id_token: 'oidc', geolocation: geolocationOf[home]?.() } };
}

const concurRefusal = (status: number, error: string, description: string, code: number): StandInAnswer => ({ status, body: { error, error_description: description, code } });

function dataCenter(name: string) {
  return (request: TokenRequestSeen, provider: DocumentedProvider): StandInAnswer => {
    if (request.path === '/oauth2/v0/token') {
      if (request.contentType !== 'application/x-www-form-urlencoded') return concurRefusal(400, 'invalid_request', 'Use application/x-www-form-urlencoded.', 0);
      if (request.params['client_id'] !== provider.clientId) return concurRefusal(401, 'invalid_client', 'client not found', 61);
      if (request.params['client_secret'] !== provider.clientSecret) return concurRefusal(401, 'invalid_client', 'Incorrect Credentials. Please Retry', 64);
      const grant = request.params['grant_type'];
      if (grant === 'password') {
        if (name !== 'us') return concurRefusal(400, 'invalid_request', 'the app lives elsewhere', 16);
        if (request.params['credtype'] !== 'authtoken') return concurRefusal(401, 'invalid_grant', 'Incorrect Credentials. Please Retry', 5);
        const { username, password } = request.params;
        if (username === COMPANY && password === REQUEST_TOKEN) return issue('eu');
        if (username === WANDERING_COMPANY && password === WANDERING_TOKEN) {
          const answer = issue('eu');
          return { ...answer, body: { ...answer.body, geolocation: 'https://api.elsewhere.example' } };
        }
        return concurRefusal(401, 'invalid_grant', 'Incorrect Credentials. Please Retry', 5);
      }
      if (grant === 'refresh_token') {
        const token = request.params['refresh_token'] ?? '';
        const home = refreshTokens.get(token);
        if (!home) return concurRefusal(400, 'invalid_grant', 'bad or expired refresh token', 108);
        if (home !== name) return concurRefusal(400, 'invalid_request', 'user lives elsewhere', 16);
        refreshTokens.delete(token);
        return issue(home);
      }
      return concurRefusal(400, 'invalid_request', 'grant_type was not supplied', 65);
    }
    const bearer = /^Bearer (\S+)$/.exec(String(request.headers['authorization'] ?? ''))?.[1] ?? '';
    const home = accessTokens.get(bearer);
    if (!home) return { status: 401, body: { Message: 'Invalid token.' } };
    if (home !== name) return { status: 401, body: { Message: 'The token belongs to another data center.' } };
    return { status: 200, body: { Items: [{ ID: 'u-1' }], dataCenter: name } };
  };
}

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

beforeAll(async () => {
  // One app: both data centers know its client (the us stand-in's).
  us = await startDocumentedProvider({ answer: (request) => dataCenter('us')(request, us) });
  eu = await startDocumentedProvider({ answer: (request) => dataCenter('eu')(request, us) });
  const template = builtIn.get('sap-concur');
  const { catalog } = catalogWith({
    'sap-concur': {
      token_url: rehost(template?.token_url?.split(' || ')[1], us.origin),
      // Stand-ins speak plain HTTP: the template's hosts, as an operator's overlay would name them.
      api_base_url: { hosts: ['http://*.concur.test'] },
    },
  });
  database = await createTestDatabase();
  test = await buildTestApp(
    database,
    { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_ENCRYPTION_KEY: ENCRYPTION_KEY, NANGO_CONNECTION_HOSTS_ALLOWED: '127.0.0.1' },
    { providers: catalog, providerTimeoutMs: 5_000, hostResolver: new TestResolver().set('eu.concur.test', ['127.0.0.1']).resolve },
  );
  // One app, registered in the us data center; its client is the integration's.
  const response = await test.app.inject({
    method: 'POST',
    url: '/integrations',
    headers: { authorization: 'Bearer sk' },
    payload: { unique_key: 'concur', provider: 'sap-concur', credentials: { type: 'OAUTH2', client_id: us.clientId, client_secret: us.clientSecret, scopes: '' } },
  });
  expect(response.statusCode, response.body).toBe(200);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  await Promise.all([us?.close(), eu?.close()]);
});

/** How the frontend SDK (and Nango's Connect UI) sends it: every value as params[…], the integration's own client. */
function connect(connectionId: string, params: Record<string, string>) {
  const query = Object.entries(params).map(([name, value]) => `params[${name}]=${encodeURIComponent(value)}`).join('&');
  return test.app.inject({ method: 'POST', url: `/oauth2/auth/concur?connection_id=${connectionId}&hmac=${hmac('concur', connectionId)}&${query}`, payload: {} });
}

async function read(connectionId: string, query = '') {
  return test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=concur${query}`, headers: { authorization: 'Bearer sk' } });
}

function proxy(connectionId: string) {
  return test.app.inject({ method: 'GET', url: '/proxy/api/v3.0/common/users', headers: { authorization: 'Bearer sk', 'connection-id': connectionId, 'provider-config-key': 'concur' } });
}

describe('SAP Concur company connections', () => {
  it('exchange the company UUID and request token in a password grant with credtype=authtoken, and keep the geolocation', async () => {
    const response = await connect('c1', { companyUUID: COMPANY, companyRequestToken: REQUEST_TOKEN });
    expect(response.statusCode, response.body).toBe(200);
    expect(us.requests.at(-1)?.params).toEqual({ grant_type: 'password', credtype: 'authtoken', username: COMPANY, password: REQUEST_TOKEN, client_id: us.clientId, client_secret: us.clientSecret });
    const connection = (await read('c1')).json();
    expect(connection.connection_config).toEqual({ companyUUID: COMPANY });
    expect(connection.credentials).toMatchObject({ type: 'OAUTH2_CC', token: expect.stringMatching(/^concur-access-/), api_base_url: geolocationOf['eu']?.() });
  });

  it('keep the request token sealed with the credentials: never a connection parameter, never in the row as text, never logged or audited', async () => {
    await connect('c2', { companyUUID: COMPANY, companyRequestToken: REQUEST_TOKEN });
    expect(JSON.stringify(await database.knex('_custody_audit_log').select())).not.toContain(REQUEST_TOKEN);
    const row = await database.knex('_nango_connections').where({ provider_config_key: 'concur', connection_id: 'c2' }).first();
    expect(JSON.stringify(row.connection_config)).not.toContain(REQUEST_TOKEN);
    expect(JSON.stringify(row.credentials)).not.toContain(REQUEST_TOKEN);
    expect(test.logs.join('')).not.toContain(REQUEST_TOKEN);
    // The secret key's read shows it where it shows the client secret, with the rest of the credentials.
    expect((await read('c2')).json().credentials.connection_credentials).toEqual({ companyRequestToken: REQUEST_TOKEN });
  });

  it('are refused without a request token, naming params[companyRequestToken], and SAP Concur is asked nothing', async () => {
    const before = us.requests.length;
    const response = await connect('c3', { companyUUID: COMPANY });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('params[companyRequestToken]');
    expect(us.requests.length).toBe(before);
    expect((await read('c3')).statusCode).toBe(404);
  });

  it('are refused, and nothing is stored, when SAP Concur refuses the request token', async () => {
    const response = await connect('c4', { companyUUID: COMPANY, companyRequestToken: 'crt-wrong' });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(response.json().error.message).toContain('invalid_grant');
    expect((await read('c4')).statusCode).toBe(404);
  });

  it('go to the company\'s data center for API calls; the same token at the app\'s data center is refused', async () => {
    await connect('c5', { companyUUID: COMPANY, companyRequestToken: REQUEST_TOKEN });
    const response = await proxy('c5');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ dataCenter: 'eu' });
    const token = (await read('c5')).json().credentials.token;
    const atApp = await fetch(`${us.origin}/api/v3.0/common/users`, { headers: { authorization: `Bearer ${token}` } });
    expect(atApp.status).toBe(401);
  });

  it('refresh at the company\'s data center with the refresh token they hold, which rotates', async () => {
    await connect('c6', { companyUUID: COMPANY, companyRequestToken: REQUEST_TOKEN });
    const first = (await read('c6', '&refresh_token=true')).json().credentials;
    const usBefore = us.requests.length;
    const refreshed = (await read('c6', '&force_refresh=true&refresh_token=true')).json().credentials;
    expect(us.requests.length).toBe(usBefore);
    expect(eu.requests.at(-1)).toMatchObject({ path: '/oauth2/v0/token', params: { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: us.clientId } });
    expect(refreshed.token).not.toBe(first.token);
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    expect(refreshTokens.has(first.refresh_token)).toBe(false);
    const again = (await read('c6', '&force_refresh=true&refresh_token=true')).json().credentials;
    expect(eu.requests.at(-1)?.params['refresh_token']).toBe(refreshed.refresh_token);
    expect(again.api_base_url).toBe(first.api_base_url);
    expect((await proxy('c6')).statusCode).toBe(200);
  });

  it('are refused when SAP Concur names a geolocation outside its hosts, and nothing is stored', async () => {
    const response = await connect('c7', { companyUUID: WANDERING_COMPANY, companyRequestToken: WANDERING_TOKEN });
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expect(response.json().error.message).toContain('geolocation');
    expect((await read('c7')).statusCode).toBe(404);
  });

  it('take the app\'s data center as the documented region, or us without one', async () => {
    const template = builtIn.get('sap-concur');
    expect(template?.connection_config?.['region']?.enum).toEqual(expect.arrayContaining(['us', 'us2', 'eu', 'eu2']));
    const response = await connect('c8', { companyUUID: COMPANY, companyRequestToken: REQUEST_TOKEN, region: 'mars' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('region');
  });
});
