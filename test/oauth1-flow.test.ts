import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { hasOAuthlib, oauthlibToken, startOAuth1Provider, type OAuth1Provider } from './support/oauth1-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * The OAuth 1.0a popup flow (request token → user authorisation → access token) against oauthlib's provider
 * endpoints, with oauthlib's checks on (one location for protocol parameters, nonce and timestamp, formats),
 * for each signature method RFC 5849 defines.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const SIGNATURE_METHODS = ['HMAC-SHA1', 'RSA-SHA1', 'PLAINTEXT'] as const;
type SignatureMethod = (typeof SIGNATURE_METHODS)[number];
/** RSA-SHA1 consumers register a public key with the provider and sign with the private key (the integration's client secret). */
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const consumer = { key: oauthlibToken(), secret: oauthlibToken(30), rsaPublicKey: rsa.publicKey, callback: CALLBACK };
/** The integration's client secret per method: the shared secret, or the RSA private key. */
const clientSecret = (method: SignatureMethod): string => (method === 'RSA-SHA1' ? rsa.privateKey : consumer.secret);

let database: TestDatabase;
let provider: OAuth1Provider;
let test: TestApp;

function oauth1Template(provider: Pick<OAuth1Provider, 'requestUrl' | 'authorizationUrl' | 'accessUrl' | 'origin'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    display_name: 'Local OAuth1 provider',
    categories: ['other'],
    auth_mode: 'OAUTH1',
    request_url: provider.requestUrl,
    authorization_url: provider.authorizationUrl,
    token_url: provider.accessUrl,
    proxy: { base_url: `${provider.origin}/api` },
    docs: 'https://example.com/docs',
    ...extra,
  };
}

describe.skipIf(!hasOAuthlib())('OAuth 1.0a against oauthlib', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    provider = await startOAuth1Provider([consumer]);
    const down = { origin: 'http://127.0.0.1:9', requestUrl: 'http://127.0.0.1:9/oauth/request_token', authorizationUrl: 'http://127.0.0.1:9/oauth/authorize', accessUrl: 'http://127.0.0.1:9/oauth/access_token' };
    const { catalog } = catalogWith({
      'oauth1-hmac': oauth1Template(provider),
      'oauth1-plaintext': oauth1Template(provider, { signature_method: 'PLAINTEXT' }),
      'oauth1-rsa': oauth1Template(provider, { signature_method: 'RSA-SHA1' }),
      // Twitter documents x_auth_access_type as a parameter of its request-token call.
      'oauth1-request-params': oauth1Template(provider, { request_params: { x_auth_access_type: 'read' } }),
      'oauth1-get': oauth1Template(provider, { request_http_method: 'GET', token_http_method: 'GET' }),
      'oauth1-down': oauth1Template(down),
    });
    test = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 3_000 });
  });

  afterAll(async () => {
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  beforeEach(async () => {
    await deleteIntegrations(database);
  });

  const providerFor = (method: SignatureMethod): string => ({ 'HMAC-SHA1': 'oauth1-hmac', 'RSA-SHA1': 'oauth1-rsa', PLAINTEXT: 'oauth1-plaintext' })[method];

  async function createIntegration(key: string, providerName: string, secret: string): Promise<void> {
    const response = await test.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: key, provider: providerName, oauth_client_id: consumer.key, oauth_client_secret: secret, oauth_scopes: 'read' },
    });
    expect(response.statusCode).toBe(200);
  }

  async function connect(key: string, connectionId: string) {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/${key}?connection_id=${connectionId}` });
    if (start.statusCode !== 302) return { start, callback: undefined };
    const walked = await followUntil(String(start.headers.location), CALLBACK);
    const callback = await test.app.inject({ method: 'GET', url: walked.url.slice(walked.url.indexOf('/oauth/callback')) });
    return { start, callback };
  }

  async function storedCredentials(key: string, connectionId: string): Promise<Record<string, unknown>> {
    return (await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=${key}` })).json().credentials;
  }

  describe.each(SIGNATURE_METHODS)('signed with %s', (method) => {
    it('gets a request token, sends the user to authorize, and stores the access token pair the provider issued', async () => {
      const before = await provider.state();
      await createIntegration('tweets', providerFor(method), clientSecret(method));
      const { start, callback } = await connect('tweets', 'user-1');
      expect(start.statusCode, start.body).toBe(302);
      expect(callback?.statusCode, callback?.body).toBe(200);
      const credentials = await storedCredentials('tweets', 'user-1');
      expect(credentials).toMatchObject({ type: 'OAUTH1', oauth_token: expect.stringMatching(/^[A-Za-z0-9]{30}$/), oauth_token_secret: expect.stringMatching(/^[A-Za-z0-9]{30}$/) });
      const after = await provider.state();
      expect(after.access_tokens).toBe(before.access_tokens + 1);
      expect(after.refused).toEqual(before.refused);
      const legs = after.accepted.slice(before.accepted.length);
      expect(legs.map((leg) => [leg.method, leg.path.split('?')[0], leg.oauth_params['oauth_signature_method']])).toEqual([
        ['POST', '/oauth/request_token', method],
        ['POST', '/oauth/access_token', method],
      ]);
      // Each protocol parameter once, in the Authorization header, and nothing else beside them.
      expect(legs.map((leg) => [leg.signature_type, leg.path, leg.params])).toEqual([
        ['AUTH_HEADER', '/oauth/request_token', []],
        ['AUTH_HEADER', '/oauth/access_token', []],
      ]);
      expect(legs[0]?.oauth_params['oauth_callback']).toMatch(/^http:\/\/127\.0\.0\.1:9\/oauth\/callback\?state=/);
      expect(legs[1]?.oauth_params).toMatchObject({ oauth_token: expect.any(String), oauth_verifier: expect.any(String) });
    });

    it('is refused by the provider when the signature is wrong (control)', async () => {
      const wrong = method === 'RSA-SHA1' ? generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey : 'wrong-secret';
      await createIntegration('bad', providerFor(method), wrong);
      const { start } = await connect('bad', 'user-3');
      expect(start.statusCode).toBe(502);
      expect(start.body).toContain('signature_invalid');
      expect(await database.knex('_nango_oauth_sessions').where({ provider_config_key: 'bad' })).toEqual([]);
    });
  });

  it('keeps a template\'s request_params in the query of the request-token call, signed with it', async () => {
    const before = await provider.state();
    await createIntegration('params', 'oauth1-request-params', consumer.secret);
    const { callback } = await connect('params', 'user-p');
    expect(callback?.statusCode, callback?.body).toBe(200);
    const [requestLeg] = (await provider.state()).accepted.slice(before.accepted.length);
    expect(requestLeg?.path).toBe('/oauth/request_token?x_auth_access_type=read');
    expect(requestLeg?.params).toEqual([['x_auth_access_type', 'read']]);
  });

  it('uses the HTTP methods the template names for the token calls', async () => {
    const before = await provider.state();
    await createIntegration('get', 'oauth1-get', consumer.secret);
    const { callback } = await connect('get', 'user-g');
    expect(callback?.statusCode, callback?.body).toBe(200);
    expect((await provider.state()).accepted.slice(before.accepted.length).map((leg) => leg.method)).toEqual(['GET', 'GET']);
  });

  it('explains that the user declined at the provider, and stores nothing', async () => {
    await createIntegration('declined', 'oauth1-hmac', consumer.secret);
    await provider.declineNext();
    const { callback } = await connect('declined', 'user-d');
    expect(callback?.body).toContain('declined');
    expect(await database.knex('_nango_connections').where({ provider_config_key: 'declined' })).toEqual([]);
  });

  it('refuses an RSA-SHA1 integration whose client secret is not a PEM private key, naming what to set', async () => {
    const response = await test.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: 'rsa-not-a-key', provider: 'oauth1-rsa', oauth_client_id: consumer.key, oauth_client_secret: 'just-a-shared-secret', oauth_scopes: 'read' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toContain('PEM of the consumer\'s RSA private key');
  });

  it('tells the end user, with a 400 and not a fault of the server, that an RSA-SHA1 integration saved before that check has no private key', async () => {
    await createIntegration('rsa-saved-before', 'oauth1-hmac', consumer.secret);
    // As written by a release that did not check the key: the sealed shared secret under an RSA-SHA1 provider.
    await database.knex('_nango_configs').where({ unique_key: 'rsa-saved-before' }).update({ provider: 'oauth1-rsa' });
    const { start } = await connect('rsa-saved-before', 'user-r');
    expect(start.statusCode).toBe(400);
    expect(start.body).toContain('PEM RSA private key');
    expect(start.body).not.toContain(consumer.secret);
    expect(await database.knex('_nango_oauth_sessions').where({ provider_config_key: 'rsa-saved-before' })).toEqual([]);
  });

  it('explains a provider that cannot be reached', async () => {
    await createIntegration('down', 'oauth1-down', consumer.secret);
    const { start } = await connect('down', 'user-4');
    expect(start.statusCode).toBe(502);
    expect(start.body).toContain('could not be reached');
  });
});
