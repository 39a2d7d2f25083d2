import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionHosts } from '../src/net/connection-hosts.js';
import { NO_CONNECTION_HOSTS_ALLOWED } from '../src/net/connection-hosts-allowed.js';
import { OutboundHostGuard } from '../src/net/outbound-host-guard.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { planUpstream } from '../src/proxy/upstream-target.js';
import type { ConfigRecord } from '../src/store/configs-store.js';
import type { ConnectionRecord } from '../src/store/connections-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { TestResolver } from './support/test-resolver.js';

/**
 * Providers whose accounts live in one of a few documented regions take the region as a connection parameter
 * from a closed set, so the region picks one of the documented hosts and nothing else. Nothing here is sent:
 * the flow's first redirect is read, not followed, and proxy targets are planned, not called.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const catalog = loadProviderCatalog();
let database: TestDatabase;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog });
  for (const provider of ['intercom', 'smartsheet', 'microsoft', 'customer-io', 'teamtailor']) {
    const oauth = catalog.get(provider)?.auth_mode === 'OAUTH2';
    const response = await test.app.inject({
      method: 'POST',
      url: '/integrations',
      headers: { authorization: 'Bearer sk' },
      payload: { unique_key: provider, provider, ...(oauth ? { credentials: { type: 'OAUTH2', client_id: 'client', client_secret: 'secret', scopes: '' } } : {}) },
    });
    expect(response.statusCode, response.body).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

async function startFlow(provider: string, params: Record<string, string> = {}) {
  const query = Object.entries(params).map(([name, value]) => `&params[${name}]=${encodeURIComponent(value)}`).join('');
  return test.app.inject({ method: 'GET', url: `/oauth/connect/${provider}?connection_id=u1&hmac=${hmac(provider, 'u1')}${query}` });
}

function authorizationHost(response: { headers: Record<string, unknown> }): string {
  return new URL(String(response.headers['location'])).host;
}

/** Planning a call resolves nothing: the guard checks addresses when a socket connects. */
const hosts = new ConnectionHosts(new OutboundHostGuard(NO_CONNECTION_HOSTS_ALLOWED, new TestResolver().resolve));

function proxyTarget(provider: string, connectionConfig: Record<string, unknown>): string {
  const template = catalog.get(provider);
  if (!template) throw new Error(provider);
  const credentials = template.auth_mode === 'API_KEY' ? { type: 'API_KEY', apiKey: 'key' } : { type: 'OAUTH2', access_token: 'token' };
  const plan = planUpstream({
    template,
    connection: { connection_id: 'c1', connection_config: connectionConfig, credentials } as unknown as ConnectionRecord,
    config: { provider } as unknown as ConfigRecord,
    baseUrlOverride: undefined,
    path: 'me',
    search: '',
    forwardedHeaders: {},
    defaultHeaders: {},
    hosts,
  });
  return plan.target.toString();
}

describe('Intercom', () => {
  it('sends a US workspace to the US hosts when no region is given', async () => {
    const response = await startFlow('intercom');
    expect(response.statusCode).toBe(302);
    expect(authorizationHost(response)).toBe('app.intercom.com');
    expect(proxyTarget('intercom', {})).toBe('https://api.intercom.io/me');
  });

  it('sends EU and AU workspaces to their regional hosts', async () => {
    expect(authorizationHost(await startFlow('intercom', { region: 'eu' }))).toBe('app.eu.intercom.com');
    expect(authorizationHost(await startFlow('intercom', { region: 'au' }))).toBe('app.au.intercom.com');
    expect(proxyTarget('intercom', { region: 'eu' })).toBe('https://api.eu.intercom.io/me');
    expect(proxyTarget('intercom', { region: 'au' })).toBe('https://api.au.intercom.io/me');
  });

  it('refuses a region outside the documented ones, so a region can never name another host', async () => {
    const response = await startFlow('intercom', { region: 'attacker.example' });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('region');
    expect(() => proxyTarget('intercom', { region: 'attacker.example' })).toThrow('The connection parameter "region" must be one of "eu", "au".');
  });
});

describe('Smartsheet', () => {
  it('uses smartsheet.com without a domain and smartsheet.eu / smartsheet.au (named as Nango names it) with one, the version path in the endpoint', async () => {
    expect(authorizationHost(await startFlow('smartsheet'))).toBe('app.smartsheet.com');
    expect(authorizationHost(await startFlow('smartsheet', { domain: 'smartsheet.eu' }))).toBe('app.smartsheet.eu');
    expect(authorizationHost(await startFlow('smartsheet', { domain: 'smartsheet.au' }))).toBe('app.smartsheet.au');
    expect(proxyTarget('smartsheet', { domain: 'smartsheet.au' })).toBe('https://api.smartsheet.au/me');
    expect(proxyTarget('smartsheet', {})).toBe('https://api.smartsheet.com/me');
  });
});

describe('Customer.io and Teamtailor (API keys; Teamtailor as Nango names its parameter, with the version in the endpoint)', () => {
  it('reach their EU or North American hosts with a region, and the default host without', () => {
    expect(proxyTarget('customer-io', { region: 'eu' })).toBe('https://api-eu.customer.io/v1/me');
    expect(proxyTarget('customer-io', {})).toBe('https://api.customer.io/v1/me');
    expect(proxyTarget('teamtailor', { extension: 'api.na' })).toBe('https://api.na.teamtailor.com/me');
    expect(proxyTarget('teamtailor', {})).toBe('https://api.teamtailor.com/me');
  });

  it('refuses to connect with a region outside the documented ones, and stores nothing', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/customer-io?connection_id=c2&hmac=${hmac('customer-io', 'c2')}&params[region]=us.attacker.example`, payload: { apiKey: 'key' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'invalid_query_params', message: 'The connection parameter "region" must be one of "eu".' });
    const stored = await test.app.inject({ method: 'GET', url: '/connections/c2?provider_config_key=customer-io', headers: { authorization: 'Bearer sk' } });
    expect(stored.statusCode).toBe(404);
  });
});

describe('Microsoft', () => {
  it('signs in at the multi-tenant common endpoint when no tenant is given', async () => {
    const response = await startFlow('microsoft');
    expect(response.statusCode).toBe(302);
    expect(new URL(String(response.headers['location'])).pathname).toBe('/common/oauth2/v2.0/authorize');
  });

  it('signs in at the tenant given', async () => {
    const response = await startFlow('microsoft', { tenant: 'contoso.onmicrosoft.com' });
    expect(new URL(String(response.headers['location'])).pathname).toBe('/contoso.onmicrosoft.com/oauth2/v2.0/authorize');
  });

  it('offers common as the tenant every product entry starts from', () => {
    for (const name of ['microsoft', 'microsoft-teams', 'outlook', 'onedrive', 'sharepoint-online', 'microsoft-dynamics-365']) {
      expect(catalog.get(name)?.connection_config?.['tenant'], name).toMatchObject({ default_value: 'common', optional: true });
    }
  });
});
