import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startOAuth1Provider, type OAuth1Provider } from './support/oauth1-provider.js';
import { followUntil } from './support/redirect-walker.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
let database: TestDatabase;
let provider: OAuth1Provider;
let test: TestApp;
/** RSA-SHA1 consumers register a public key with the provider and sign with the private key (the integration's client secret). */
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });

function oauth1Template(origin: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    display_name: 'Local OAuth1 provider',
    categories: ['other'],
    auth_mode: 'OAUTH1',
    request_url: `${origin}/request_token`,
    authorization_url: `${origin}/authorize`,
    token_url: `${origin}/access_token`,
    proxy: { base_url: origin },
    docs: 'https://example.com/docs',
    ...extra,
  };
}

beforeAll(async () => {
  database = await createTestDatabase();
  provider = await startOAuth1Provider({ rsaPublicKey: rsa.publicKey });
  const { catalog } = catalogWith({
    'oauth1-test': oauth1Template(provider.origin),
    'oauth1-plaintext': oauth1Template(provider.origin, { signature_method: 'PLAINTEXT' }),
    'oauth1-rsa': oauth1Template(provider.origin, { signature_method: 'RSA-SHA1' }),
    'oauth1-down': oauth1Template('http://127.0.0.1:9'),
  });
  test = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 3_000 });
});

afterAll(async () => {
  await test?.close();
  await provider?.close();
  await database?.drop();
});

beforeEach(async () => {
  await database.knex('_nango_connections').delete();
  await database.knex('_nango_configs').delete();
});

async function createIntegration(key: string, providerName: string, secret = provider.consumerSecret): Promise<void> {
  const response = await test.app.inject({
    method: 'POST',
    url: '/config',
    payload: { provider_config_key: key, provider: providerName, oauth_client_id: provider.consumerKey, oauth_client_secret: secret, oauth_scopes: 'read' },
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

describe('OAuth 1.0a', () => {
  it('gets a request token, sends the user to authorize, and stores the access token pair', async () => {
    await createIntegration('tweets', 'oauth1-test');
    const { callback } = await connect('tweets', 'user-1');
    expect(callback?.statusCode).toBe(200);
    const connection = (await test.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=tweets' })).json();
    expect(connection.credentials).toMatchObject({
      type: 'OAUTH1',
      oauth_token: expect.stringMatching(/^at-/),
      oauth_token_secret: expect.stringMatching(/^ats-/),
      raw: expect.objectContaining({ user_id: '42' }),
    });
    expect(provider.issuedAccessTokens()).toBe(1);
  });

  it('signs with PLAINTEXT when the template asks for it', async () => {
    await createIntegration('plain', 'oauth1-plaintext');
    const { callback } = await connect('plain', 'user-2');
    expect(callback?.statusCode).toBe(200);
  });

  it('signs with RSA-SHA1 and the private key of the integration when the template asks for it', async () => {
    await createIntegration('rsa', 'oauth1-rsa', rsa.privateKey);
    const { callback } = await connect('rsa', 'user-rsa');
    expect(callback?.statusCode).toBe(200);
    const connection = (await test.app.inject({ method: 'GET', url: '/connection/user-rsa?provider_config_key=rsa' })).json();
    expect(connection.credentials).toMatchObject({ type: 'OAUTH1', oauth_token: expect.stringMatching(/^at-/) });
  });

  it('is refused by the provider when signed with an RSA key it does not know', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await createIntegration('rsa-wrong', 'oauth1-rsa', stranger.privateKey);
    const { start } = await connect('rsa-wrong', 'user-rsa');
    expect(start.statusCode).toBe(502);
    expect(start.body).toContain('signature_invalid');
  });

  it('explains a refused request token (wrong consumer secret) without storing anything', async () => {
    await createIntegration('bad', 'oauth1-test', 'wrong-secret');
    const { start } = await connect('bad', 'user-3');
    expect(start.statusCode).toBe(502);
    expect(start.body).toContain('signature_invalid');
    expect(await database.knex('_nango_oauth_sessions').where({ provider_config_key: 'bad' })).toEqual([]);
  });

  it('explains a provider that cannot be reached', async () => {
    await createIntegration('down', 'oauth1-down');
    const { start } = await connect('down', 'user-4');
    expect(start.statusCode).toBe(502);
    expect(start.body).toContain('could not be reached');
  });
});
