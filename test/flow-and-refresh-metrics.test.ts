import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { parsePrometheusText, sampleValue } from './support/prometheus-text.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * `/metrics` counts what operators alert on: OAuth flows started and how they finished, token refreshes and
 * their failures. Driven here by real flows and refreshes against a local oidc-provider.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const SECRET = { authorization: 'Bearer sk-metrics' };
const PROVIDER = 'oidc-test';

let database: TestDatabase;
let provider: AuthorizationServer;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  provider = await startAuthorizationServer({ redirectUris: [CALLBACK] });
  const { catalog } = catalogWith({ [PROVIDER]: oidcTestProvider(provider.issuer) });
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk-metrics', NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 5_000 });
  await saveIntegration('POST', 'oidc', provider.clientSecret);
});

afterAll(async () => {
  await test?.close();
  await provider?.close();
  await database?.drop();
});

async function saveIntegration(method: 'POST' | 'PUT', key: string, clientSecret: string): Promise<void> {
  const response = await test.app.inject({
    method,
    url: '/config',
    headers: SECRET,
    payload: { provider_config_key: key, provider: PROVIDER, oauth_client_id: provider.clientId, oauth_client_secret: clientSecret, oauth_scopes: 'openid,offline_access' },
  });
  expect(response.statusCode, response.body).toBe(200);
}

/** Runs the popup flow as a browser would: our start, the provider's screens, our callback. Returns the callback's status. */
async function connect(key: string, connectionId: string): Promise<number> {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/${key}?connection_id=${connectionId}` });
  expect(start.statusCode).toBe(302);
  const walked = await followUntil(String(start.headers.location), CALLBACK);
  expect(walked.url.startsWith(CALLBACK), `the provider stopped at ${walked.url}`).toBe(true);
  const callback = await test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
  return callback.statusCode;
}

async function forceRefresh(key: string, connectionId: string): Promise<number> {
  const response = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=${key}&force_refresh=true`, headers: SECRET });
  return response.statusCode;
}

/** The counters this spec is about, read from `/metrics` and parsed as the Prometheus text format. */
async function counters(): Promise<{ flowsStarted: number; flowsSucceeded: number; flowsFailed: number; refreshesSucceeded: number; refreshesFailed: number }> {
  const response = await test.app.inject({ method: 'GET', url: '/metrics', headers: SECRET });
  expect(response.statusCode).toBe(200);
  const samples = parsePrometheusText(response.body);
  return {
    flowsStarted: sampleValue(samples, 'custody_oauth_flows_started_total', { provider: PROVIDER }),
    flowsSucceeded: sampleValue(samples, 'custody_oauth_flows_finished_total', { provider: PROVIDER, result: 'success' }),
    flowsFailed: sampleValue(samples, 'custody_oauth_flows_finished_total', { provider: PROVIDER, result: 'failure' }),
    refreshesSucceeded: sampleValue(samples, 'custody_token_refreshes_total', { provider: PROVIDER, result: 'success' }),
    refreshesFailed: sampleValue(samples, 'custody_token_refreshes_total', { provider: PROVIDER, result: 'failure' }),
  };
}

describe('OAuth flow counters', () => {
  it('count a flow that starts and ends connected as started and finished with success', async () => {
    const before = await counters();
    expect(await connect('oidc', 'connected-user')).toBe(200);
    expect(await counters()).toEqual({ ...before, flowsStarted: before.flowsStarted + 1, flowsSucceeded: before.flowsSucceeded + 1 });
  });

  it('count a flow the user declines at the provider as started and finished with failure', async () => {
    const before = await counters();
    provider.denyNext();
    expect(await connect('oidc', 'declining-user')).toBe(400);
    expect(await counters()).toEqual({ ...before, flowsStarted: before.flowsStarted + 1, flowsFailed: before.flowsFailed + 1 });
  });
});

describe('token refresh counters', () => {
  it('count a refresh the provider grants as a success', async () => {
    expect(await connect('oidc', 'refreshed-user')).toBe(200);
    const before = await counters();
    const grants = provider.refreshGrants();
    expect(await forceRefresh('oidc', 'refreshed-user')).toBe(200);
    expect(provider.refreshGrants()).toBe(grants + 1);
    expect(await counters()).toEqual({ ...before, refreshesSucceeded: before.refreshesSucceeded + 1 });
  });

  it('count a refresh the provider refuses as a failure', async () => {
    await saveIntegration('POST', 'revoked', provider.clientSecret);
    expect(await connect('revoked', 'revoked-user')).toBe(200);
    // The operator rotates the client secret to a value the provider does not know: the next refresh is refused.
    await saveIntegration('PUT', 'revoked', 'not-the-client-secret');
    const before = await counters();
    expect(await forceRefresh('revoked', 'revoked-user')).toBe(502);
    expect(await counters()).toEqual({ ...before, refreshesFailed: before.refreshesFailed + 1 });
  });
});
