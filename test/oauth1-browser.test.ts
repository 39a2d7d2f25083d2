import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { hasOAuthlib, oauthlibToken, startOAuth1Provider, type OAuth1Provider } from './support/oauth1-provider.js';
import { runSdkCallInPage, startSdkPageServer, type SdkOutcome, type SdkPageServer } from './support/sdk-page-server.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * An OAuth 1.0a connection made as an end user makes it: the operator's page calls `auth()` of the real frontend
 * SDK in headless Chromium, the popup goes through oauthlib's provider and back, and the stored token pair then
 * signs proxied calls that oauthlib's resource endpoint accepts; for each signature method.
 */
const SIGNATURE_METHODS = ['HMAC-SHA1', 'RSA-SHA1', 'PLAINTEXT'] as const;
const SECRET = 'oauth1-browser-secret-key';

describe.skipIf(!hasChromium || !hasOAuthlib())('OAuth 1.0a through the popup, against oauthlib', () => {
  let database: TestDatabase;
  let provider: OAuth1Provider;
  let test: TestApp;
  let pages: SdkPageServer;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const consumer = { key: oauthlibToken(), secret: oauthlibToken(30), rsaPublicKey: rsa.publicKey, callback: `${serverUrl}/oauth/callback` };
    database = await createTestDatabase();
    provider = await startOAuth1Provider([consumer]);
    const templates = SIGNATURE_METHODS.map((method) => [
      `oauth1-${method.toLowerCase()}`,
      { display_name: `OAuth1 ${method}`, auth_mode: 'OAUTH1', request_url: provider.requestUrl, authorization_url: provider.authorizationUrl, token_url: provider.accessUrl, signature_method: method, docs: 'https://example.com/docs', proxy: { base_url: `${provider.origin}/api` } },
    ]);
    const { catalog } = catalogWith(Object.fromEntries(templates));
    test = await buildTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: SECRET }, { providers: catalog, providerTimeoutMs: 3_000 });
    await test.app.listen({ port, host: '127.0.0.1' });
    const integrations: [string, string, string][] = [
      ...SIGNATURE_METHODS.map((method): [string, string, string] => [method, `oauth1-${method.toLowerCase()}`, method === 'RSA-SHA1' ? rsa.privateKey : consumer.secret]),
      ['wrong-secret', 'oauth1-hmac-sha1', 'not-the-consumer-secret'],
    ];
    for (const [key, providerName, secret] of integrations) {
      const create = await fetch(`${serverUrl}/config`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider_config_key: key, provider: providerName, oauth_client_id: consumer.key, oauth_client_secret: secret, oauth_scopes: 'read' }),
      });
      expect(create.status).toBe(200);
    }
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

  /** Runs `nango.auth(key, connectionId)` of @nangohq/frontend 0.71.10 on a click and returns its outcome. */
  async function authInPage(key: string, connectionId: string): Promise<SdkOutcome> {
    const session = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: connectionId }, allowed_integrations: [key] }),
    });
    const { data } = (await session.json()) as { data: { token: string } };
    return runSdkCallInPage(pages, browser, '071', { host: serverUrl, connectSessionToken: data.token }, `nango.auth(${JSON.stringify(key)})`);
  }

  it.each(SIGNATURE_METHODS)('auth() stores a token pair signed with %s that the provider then accepts on proxied calls', async (method) => {
    const result = await authInPage(method, `user-${method}`);
    expect(result).toMatchObject({ outcome: 'resolved', value: { providerConfigKey: method, isPending: false } });
    const { connectionId } = result.value as { connectionId: string };
    const proxied = await fetch(`${serverUrl}/proxy/me?fields=a%20b`, { headers: { authorization: `Bearer ${SECRET}`, 'connection-id': connectionId, 'provider-config-key': method } });
    expect(proxied.status, await proxied.clone().text()).toBe(200);
    expect(await proxied.json()).toMatchObject({ url: '/api/me?fields=a%20b', signature_method: method, params: [['fields', 'a b']] });
  });

  it('rejects auth() when the provider refuses the signature (control: a consumer secret it does not know)', async () => {
    const result = await authInPage('wrong-secret', 'user-wrong');
    expect(result).toMatchObject({ outcome: 'rejected', value: { type: 'token_err', message: expect.stringContaining('signature_invalid') } });
  });

  it('rejects auth() when the user declines at the provider', async () => {
    await provider.declineNext();
    const result = await authInPage('HMAC-SHA1', 'user-declined');
    expect(result).toMatchObject({ outcome: 'rejected', value: { type: 'callback_err', message: expect.stringContaining('declined') } });
  });
});
