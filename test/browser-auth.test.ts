import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { runSdkCallInPage, startSdkPageServer, type SdkOutcome, type SdkPageServer } from './support/sdk-page-server.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * The real frontend SDKs in headless Chromium: the operator's page calls `auth()`, a popup walks through the
 * provider's consent screen, and the promise resolves once the connection is stored.
 */
describe.skipIf(!hasChromium)('auth() through the popup with the real frontend SDKs', () => {
  let database: TestDatabase;
  let provider: AuthorizationServer;
  let test: TestApp;
  let pages: SdkPageServer;
  let browser: Browser;
  let serverUrl: string;
  let publicKey: string;

  beforeAll(async () => {
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    provider = await startAuthorizationServer({ redirectUris: [`${serverUrl}/oauth/callback`] });
    const { catalog } = catalogWith({ 'oidc-test': oidcTestProvider(provider.issuer) });
    test = await buildTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    const create = await fetch(`${serverUrl}/config`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ provider_config_key: 'oidc', provider: 'oidc-test', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'openid,offline_access' }),
    });
    expect(create.status).toBe(200);
    publicKey = (await database.knex('_nango_accounts').where({ id: 0 }).first()).public_key;
    pages = await startSdkPageServer();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  /** Loads a page that runs `call` (a JS expression using `nango`) on a click and returns the outcome. */
  const runInPage = (sdk: '016' | '071', options: Record<string, unknown>, call: string): Promise<SdkOutcome> => runSdkCallInPage(pages, browser, sdk, options, call);

  it('completes auth() with @nangohq/frontend 0.16.1 and the backend then reads the token', async () => {
    const result = await runInPage('016', { host: serverUrl }, `nango.auth('oidc', 'user-016')`);
    expect(result).toEqual({ outcome: 'resolved', value: { providerConfigKey: 'oidc', connectionId: 'user-016' } });
    const connection = await fetch(`${serverUrl}/connection/user-016?provider_config_key=oidc`, { headers: { authorization: 'Bearer secret' } });
    expect((await connection.json()).credentials.access_token).toEqual(expect.any(String));
  });

  it('completes auth() with @nangohq/frontend 0.71.10 using the server public key', async () => {
    const result = await runInPage('071', { host: serverUrl, publicKey }, `nango.auth('oidc', 'user-071')`);
    expect(result).toEqual({ outcome: 'resolved', value: { providerConfigKey: 'oidc', connectionId: 'user-071', isPending: false } });
  });

  it('rejects auth() with the provider error type when the user declines', async () => {
    provider.denyNext();
    await browser.context.clearCookies();
    const result = await runInPage('016', { host: serverUrl }, `nango.auth('oidc', 'user-denied')`);
    expect(result.outcome).toBe('rejected');
    expect(result.value).toMatchObject({ type: 'callback_err', message: expect.stringContaining('access_denied') });
  });

  it('completes auth() with @nangohq/frontend 0.71.10 and a connect session token; the connection belongs to the end user', async () => {
    const session = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: 'end-user-7', email: 'seven@example.com' }, allowed_integrations: ['oidc'], tags: { plan: 'pro' } }),
    });
    const { data } = (await session.json()) as { data: { token: string } };
    const result = await runInPage('071', { host: serverUrl, connectSessionToken: data.token }, `nango.auth('oidc')`);
    expect(result).toMatchObject({ outcome: 'resolved', value: { providerConfigKey: 'oidc', connectionId: expect.stringMatching(/^[0-9a-f-]{36}$/), isPending: false } });
    const connectionId = (result.value as { connectionId: string }).connectionId;
    const connection = await fetch(`${serverUrl}/connections/${connectionId}?provider_config_key=oidc`, { headers: { authorization: 'Bearer secret' } });
    expect(await connection.json()).toMatchObject({ end_user: { id: 'end-user-7', email: 'seven@example.com' }, tags: { plan: 'pro' } });
  });

  it('rejects auth() with a connect session that does not allow the integration', async () => {
    await fetch(`${serverUrl}/config`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ provider_config_key: 'other', provider: 'oidc-test', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'openid' }),
    });
    const session = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: 'end-user-8' }, allowed_integrations: ['oidc'] }),
    });
    const { data } = (await session.json()) as { data: { token: string } };
    const result = await runInPage('071', { host: serverUrl, connectSessionToken: data.token }, `nango.auth('other')`);
    expect(result).toMatchObject({ outcome: 'rejected', value: { type: 'integration_not_allowed' } });
  });

  it('rejects auth() at once for an integration that does not exist', async () => {
    const result = await runInPage('071', { host: serverUrl, publicKey }, `nango.auth('missing', 'user-1')`);
    expect(result).toMatchObject({ outcome: 'rejected', value: { type: 'provider_config_err' } });
  });
});
