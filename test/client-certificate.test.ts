import https from 'node:https';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkEntry } from '../src/providers/catalog-check.js';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { fingerprintOf, startMutualTlsProvider, type MutualTlsProvider } from './support/mtls-provider.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * Providers that require mutual TLS (ADP): each connection gives the client certificate the provider signed for
 * the customer's app and its private key; the server presents them on the token request and on every proxied
 * call. Driven against a local stand-in whose TLS server refuses any handshake without a certificate its CA
 * signed. The built-in `adp` template is used with its hosts moved to the stand-in.
 */
const SECRET = 'mtls-secret-key-4c1d';
const AUTH = { authorization: `Bearer ${SECRET}` };

let database: TestDatabase;
let provider: MutualTlsProvider;
let test: TestApp;

/** The body of a private key PEM (one of its base64 lines), which must appear in no read, log or audit row. */
let keyLine: string;

beforeAll(async () => {
  database = await createTestDatabase();
  provider = await startMutualTlsProvider();
  keyLine = provider.pki.client.privateKey.split('\n')[3] ?? '';
  const { catalog } = catalogWith({
    'adp-local': { alias: 'adp', token_url: `${provider.origin}/auth/oauth/v2/token`, proxy: { base_url: provider.origin } },
    'cc-plain': { display_name: 'Plain client credentials', categories: ['other'], auth_mode: 'OAUTH2_CC', token_url: `${provider.origin}/auth/oauth/v2/token`, docs: 'https://example.com/docs' },
  });
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET, NANGO_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64') }, { providers: catalog, extraTrustedCertificates: [provider.pki.caCertificate] });
  for (const [key, template] of [['adp', 'adp-local'], ['plain', 'cc-plain']]) {
    const created = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: key, provider: template } });
    expect(created.statusCode, created.body).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await provider?.close();
  await database?.drop();
});

beforeEach(() => {
  provider.tokenRequests.length = 0;
  provider.apiCalls.length = 0;
});

function connectBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
    client_certificate: provider.pki.client.certificate,
    client_private_key: provider.pki.client.privateKey,
    ...overrides,
  };
}

async function connect(connectionId: string, body: Record<string, unknown>, key = 'adp') {
  return test.app.inject({ method: 'POST', url: `/oauth2/auth/${key}?connection_id=${connectionId}`, payload: body });
}

async function connectionExists(connectionId: string): Promise<boolean> {
  const rows = await database.knex('_nango_connections').where({ connection_id: connectionId });
  return rows.length > 0;
}

describe('a provider that requires a client certificate', () => {
  it('refuses a TLS handshake without a certificate its CA signed (the stand-in is as strict as ADP)', async () => {
    const attempt = (options: https.RequestOptions) =>
      new Promise<string>((resolve) => {
        const request = https.request(`${provider.origin}/hr/v2/workers`, { ca: provider.pki.caCertificate, agent: false, ...options }, () => resolve('answered'));
        request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        request.end();
      });
    expect(await attempt({})).not.toBe('answered');
    expect(await attempt({ cert: provider.pki.stranger.certificate, key: provider.pki.stranger.privateKey })).not.toBe('answered');
    expect(await attempt({ cert: provider.pki.client.certificate, key: provider.pki.client.privateKey })).toBe('answered');
  });

  it('connects with a valid certificate: the token request and the proxied call both present it', async () => {
    const response = await connect('acme', connectBody());
    expect(response.statusCode, response.body).toBe(200);
    expect(provider.tokenRequests).toEqual([{ grantType: 'client_credentials', clientId: provider.clientId, certificate: fingerprintOf(provider.pki.client.certificate) }]);

    const proxied = await test.app.inject({ method: 'GET', url: '/proxy/hr/v2/workers', headers: { ...AUTH, 'connection-id': 'acme', 'provider-config-key': 'adp' } });
    expect(proxied.statusCode, proxied.body).toBe(200);
    expect(proxied.json()).toMatchObject({ workers: [{ associateOID: 'G3NJ8ZQ' }] });
    expect(provider.apiCalls).toEqual([{ certificate: fingerprintOf(provider.pki.client.certificate), path: '/hr/v2/workers' }]);
  });

  it('renews the token over the same certificate', async () => {
    expect((await connect('renewing', connectBody())).statusCode).toBe(200);
    const first = await test.app.inject({ method: 'GET', url: '/connections/renewing?provider_config_key=adp', headers: AUTH });
    const renewed = await test.app.inject({ method: 'GET', url: '/connections/renewing?provider_config_key=adp&force_refresh=true', headers: AUTH });
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect(renewed.json().credentials.token).not.toBe(first.json().credentials.token);
    expect(provider.tokenRequests.map((request) => request.certificate)).toEqual([fingerprintOf(provider.pki.client.certificate), fingerprintOf(provider.pki.client.certificate)]);
  });

  it.each([
    ['without a certificate', { client_certificate: undefined, client_private_key: undefined }, /requires a TLS client certificate: pass client_certificate/],
    ['without its private key', { client_private_key: '' }, /requires a TLS client certificate/],
    ['with a certificate that is not PEM', { client_certificate: 'MIIC-not-a-certificate' }, /client_certificate is not a PEM certificate/],
    ['with a private key that is not PEM', { client_private_key: 'not a key' }, /client_private_key is not an unencrypted PEM private key/],
    ['with a key that is not the certificate\'s', { client_private_key: () => provider.pki.stranger.privateKey }, /client_private_key is not the private key of client_certificate/],
  ])('refuses a connection %s with a 400 that says what to fix, and stores nothing', async (_name, overrides, message) => {
    const resolved = Object.fromEntries(Object.entries(overrides).map(([field, value]) => [field, typeof value === 'function' ? value() : value]));
    const id = `refused-${Object.keys(resolved).join('-')}-${Math.random().toString(36).slice(2, 6)}`;
    const response = await connect(id, connectBody(resolved));
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'invalid_body', message: expect.stringMatching(message) });
    expect(response.body).not.toContain(keyLine);
    expect(provider.tokenRequests).toEqual([]);
    expect(await connectionExists(id)).toBe(false);
  });

  it('stores nothing when the provider refuses a certificate its CA did not sign', async () => {
    const response = await connect('stranger', connectBody({ client_certificate: provider.pki.stranger.certificate, client_private_key: provider.pki.stranger.privateKey }));
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error.message).toMatch(/requires a TLS client certificate and may have refused this one/);
    expect(provider.tokenRequests).toEqual([]);
    expect(await connectionExists('stranger')).toBe(false);
  });

  it('never returns the private key: modern and seed reads, the dashboard, logs and audit rows', async () => {
    expect((await connect('private', connectBody())).statusCode).toBe(200);
    const reads = await Promise.all([
      test.app.inject({ method: 'GET', url: '/connections/private?provider_config_key=adp&refresh_token=true', headers: AUTH }),
      test.app.inject({ method: 'GET', url: '/connection/private?provider_config_key=adp&refresh_token=true', headers: AUTH }),
      test.app.inject({ method: 'GET', url: '/api/v1/connection/private?provider_config_key=adp', headers: AUTH }),
      test.app.inject({ method: 'GET', url: '/proxy/hr/v2/workers', headers: { ...AUTH, 'connection-id': 'private', 'provider-config-key': 'adp' } }),
    ]);
    for (const read of reads) expect(read.statusCode, read.body).toBe(200);
    expect(reads[0]?.json().credentials).toMatchObject({ type: 'OAUTH2_CC', client_certificate: provider.pki.client.certificate });
    expect(reads[0]?.json().credentials).not.toHaveProperty('client_private_key');
    expect(reads[1]?.json().credentials).not.toHaveProperty('client_private_key');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the proxy's audit entries are written just after its answer
    const audit = JSON.stringify(await database.knex('_custody_audit_log').select());
    const stored = JSON.stringify(await database.knex('_nango_connections').where({ connection_id: 'private' }).select('credentials'));
    for (const text of [...reads.map((read) => read.body), test.logs.join(''), audit, stored]) expect(text).not.toContain(keyLine);
  });

  it('imports a connection with its certificate pair, checked, and the imported key is never read back either', async () => {
    const credentials = { type: 'OAUTH2_CC', token: 'imported-token-1', client_id: provider.clientId, client_secret: provider.clientSecret, client_certificate: provider.pki.client.certificate };
    const mismatched = await test.app.inject({ method: 'POST', url: '/connections', headers: AUTH, payload: { provider_config_key: 'adp', connection_id: 'imported', credentials: { ...credentials, client_private_key: provider.pki.stranger.privateKey } } });
    expect(mismatched.statusCode).toBe(400);
    expect(mismatched.body).toMatch(/client_private_key is not the private key of client_certificate/);
    expect(await connectionExists('imported')).toBe(false);

    const imported = await test.app.inject({ method: 'POST', url: '/connections', headers: AUTH, payload: { provider_config_key: 'adp', connection_id: 'imported', credentials: { ...credentials, client_private_key: provider.pki.client.privateKey } } });
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.body).not.toContain(keyLine);
    const read = await test.app.inject({ method: 'GET', url: '/connections/imported?provider_config_key=adp', headers: AUTH });
    expect(read.json().credentials).toMatchObject({ token: 'imported-token-1', client_certificate: provider.pki.client.certificate });
    expect(read.body).not.toContain(keyLine);
  });

  it('answers a proxied call of a connection imported without a certificate with a 400 that says to reconnect', async () => {
    const credentials = { type: 'OAUTH2_CC', token: 'imported-token-2', client_id: provider.clientId, client_secret: provider.clientSecret };
    const imported = await test.app.inject({ method: 'POST', url: '/connections', headers: AUTH, payload: { provider_config_key: 'adp', connection_id: 'no-certificate', credentials } });
    expect(imported.statusCode, imported.body).toBe(201);
    const proxied = await test.app.inject({ method: 'GET', url: '/proxy/hr/v2/workers', headers: { ...AUTH, 'connection-id': 'no-certificate', 'provider-config-key': 'adp' } });
    expect(proxied.statusCode).toBe(400);
    // The seed error shape: a caller without a modern SDK gets `{error, type, payload}`.
    expect(proxied.json()).toMatchObject({ error: expect.stringMatching(/requires a TLS client certificate, and the connection "no-certificate" has none; connect it again/) });
    expect(provider.apiCalls).toEqual([]);
  });

  it('refuses certificate fields for a provider that does not use them', async () => {
    const response = await connect('plain-1', connectBody(), 'plain');
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(/does not use a TLS client certificate; leave out client_certificate and client_private_key/);
    expect(await connectionExists('plain-1')).toBe(false);
  });
});

describe('the catalog', () => {
  it('lists ADP and its products under Nango\'s keys, with the client certificate asked of each connection', () => {
    const catalog = loadProviderCatalog();
    for (const key of ['adp', 'adp-workforce-now', 'adp-workforce-now-next-gen', 'adp-run', 'adp-lyric']) {
      expect(catalog.get(key), key).toMatchObject({
        auth_mode: 'OAUTH2_CC',
        token_url: 'https://accounts.adp.com/auth/oauth/v2/token',
        require_client_certificate: true,
        proxy: { base_url: 'https://api.adp.com' },
        credentials: { client_certificate: { format: 'pem' }, client_private_key: { format: 'pem', secret: true } },
      });
    }
  });

  it('refuses require_client_certificate on a mode that cannot present one', () => {
    expect(() => catalogWith({ keyed: { display_name: 'Keyed', auth_mode: 'API_KEY', require_client_certificate: true, docs: 'https://example.com/docs' } })).toThrow(/only OAUTH2_CC providers can require a client certificate/);
  });

  it('has the catalog check ask for both PEM fields, the key marked secret', () => {
    const template = { ...loadProviderCatalog().get('adp')!, credentials: { client_certificate: { type: 'string' as const, title: 'Certificate', description: 'PEM' } } };
    expect(checkEntry('adp-overlay', template, {}, { overlay: true })).toEqual([
      'adp-overlay: credentials.client_certificate holds PEM text: give it format: pem.',
      'adp-overlay: require_client_certificate needs credentials.client_private_key (format: pem), so the Connect UI asks for it.',
    ]);
  });
});
