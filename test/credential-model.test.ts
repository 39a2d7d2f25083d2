import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_MODE_FACTS, AUTH_MODES } from '../src/credentials/auth-modes.js';
import { CREDENTIAL_MODES, ModernImportCredentials, parseStoredCredentials } from '../src/credentials/registry.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * The credential model: every auth mode is one module in the registry, stored credentials are read through
 * their mode's schema (a row that does not fit is refused by name, never read as nothing), and a connection
 * is authorised in one transaction whose signal goes out only once it has committed.
 */
let database: TestDatabase;
let test: TestApp;
const AUTH = { authorization: 'Bearer sk' };

/** One valid `credentials` object of the modern import per mode. */
const IMPORTED: Record<(typeof AUTH_MODES)[number], Record<string, unknown>> = {
  OAUTH2: { type: 'OAUTH2', access_token: 'at', refresh_token: 'rt', expires_at: '2099-01-01T00:00:00.000Z', raw: { scope: 'read' } },
  OAUTH1: { type: 'OAUTH1', oauth_token: 'ot', oauth_token_secret: 'ots' },
  OAUTH2_CC: { type: 'OAUTH2_CC', token: 'cc', client_id: 'id', client_secret: 'secret', expires_at: '2099-01-01T00:00:00.000Z' },
  API_KEY: { type: 'API_KEY', apiKey: 'key' },
  BASIC: { type: 'BASIC', username: 'ada', password: 'pw' },
  NONE: { type: 'NONE' },
  APP: { type: 'APP', access_token: 'ghs_installation', expires_at: '2099-01-01T00:00:00.000Z', installation_id: '42', raw: {} },
};

beforeAll(async () => {
  database = await createTestDatabase();
  const { catalog } = catalogWith({
    'model-key': { display_name: 'Model key', categories: ['other'], auth_mode: 'API_KEY', docs: 'https://example.com/docs', proxy: { base_url: 'http://127.0.0.1:9' }, credentials: { apiKey: { title: 'API key', secret: true } } },
  });
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk' }, { providers: catalog });
  const created = await test.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: 'key', provider: 'model-key' } });
  expect(created.statusCode).toBe(200);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

async function insertRaw(connectionId: string, credentials: unknown): Promise<void> {
  await database.knex('_nango_connections').insert({ provider_config_key: 'key', connection_id: connectionId, account_id: 0, credentials: JSON.stringify(credentials), connection_config: '{}', metadata: '{}' });
}

async function authorisedConnections(): Promise<number> {
  const text = (await test.app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
  return text
    .split('\n')
    .filter((line) => line.startsWith('custody_connections_authorized_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

describe('the registry', () => {
  it('has a module for every auth mode, each with the facts the web UI reads', () => {
    expect(Object.keys(CREDENTIAL_MODES).sort()).toEqual([...AUTH_MODES].sort());
    for (const mode of AUTH_MODES) {
      expect(CREDENTIAL_MODES[mode].mode).toBe(mode);
      expect(AUTH_MODE_FACTS[mode]).toBeDefined();
    }
  });

  it('reads back, through each mode’s stored schema, what each mode’s import stores', () => {
    for (const mode of AUTH_MODES) {
      const stored = ModernImportCredentials.parse(IMPORTED[mode]);
      expect(stored.type).toBe(mode);
      expect(parseStoredCredentials(JSON.parse(JSON.stringify(stored)), { providerConfigKey: 'key', connectionId: 'c' })).toEqual(stored);
    }
  });

  it('keeps fields it does not know in a stored row, as Nango wrote them', () => {
    const row = { type: 'OAUTH2', access_token: 'at', raw: {}, connection_config_from_nango: { x: 1 } };
    expect(parseStoredCredentials(row, { providerConfigKey: 'key', connectionId: 'c' })).toEqual(row);
  });

  it('reads a row written before credentials carried a type as OAuth 2 tokens', () => {
    expect(parseStoredCredentials({ access_token: 'old' }, { providerConfigKey: 'key', connectionId: 'c' })).toEqual({ type: 'OAUTH2', access_token: 'old' });
  });
});

describe('a stored row that does not fit its mode', () => {
  it('of a type this server does not know is refused by name on every read, never served as empty credentials', async () => {
    await insertRaw('tba-row', { type: 'TBA', token_id: 't', token_secret: 's' });
    const seed = await test.app.inject({ method: 'GET', url: '/connection/tba-row?provider_config_key=key', headers: AUTH });
    expect(seed.statusCode).toBe(501);
    expect(seed.json()).toMatchObject({ type: 'not_supported', error: expect.stringContaining('"tba-row" of integration "key" holds credentials of type "TBA"') });
    const modern = await test.app.inject({ method: 'GET', url: '/connections/tba-row?provider_config_key=key', headers: AUTH });
    expect(modern.statusCode).toBe(501);
    expect(modern.json().error).toMatchObject({ code: 'not_supported' });
    const proxied = await test.app.inject({ method: 'GET', url: '/proxy/me', headers: { ...AUTH, 'connection-id': 'tba-row', 'provider-config-key': 'key' } });
    expect(proxied.statusCode).toBe(501);
  });

  it('missing a field its mode needs says which field, and that the connection must be imported again or reconnected', async () => {
    await insertRaw('broken-row', { type: 'API_KEY' });
    const response = await test.app.inject({ method: 'GET', url: '/connection/broken-row?provider_config_key=key', headers: AUTH });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ type: 'invalid_stored_credentials', error: expect.stringMatching(/"broken-row".*apiKey.*reconnect/) });
  });

  it('without any credentials at all is not read as a connection without authentication', async () => {
    await insertRaw('empty-row', {});
    const response = await test.app.inject({ method: 'GET', url: '/connection/empty-row?provider_config_key=key', headers: AUTH });
    expect(response.statusCode).toBe(501);
    expect(response.json().error).toContain('credentials without a type');
  });

  it('is still listed, so an operator can find and delete it', async () => {
    const listed = await test.app.inject({ method: 'GET', url: '/connections', headers: AUTH });
    expect(listed.json().connections.map((row: { connection_id: string }) => row.connection_id)).toEqual(expect.arrayContaining(['tba-row', 'broken-row', 'empty-row']));
    const deleted = await test.app.inject({ method: 'DELETE', url: '/connections/empty-row?provider_config_key=key', headers: AUTH });
    expect(deleted.statusCode).toBe(200);
  });
});

describe('a connection authorised', () => {
  it('is stored with its audit entry and announced once both have committed', async () => {
    const before = await authorisedConnections();
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=atomic-1&hmac=${hmac('key', 'atomic-1')}`, payload: { apiKey: 'k1' } });
    expect(response.statusCode).toBe(200);
    expect(await database.knex('_custody_audit_log').where({ connection_id: 'atomic-1', action: 'connection.create' })).toHaveLength(1);
    expect(await authorisedConnections()).toBe(before + 1);
  });

  it('whose audit entry cannot be written leaves no connection behind and announces nothing', async () => {
    await database.knex.raw(`CREATE FUNCTION nango.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused for this spec'; END $$`);
    await database.knex.raw(`CREATE TRIGGER refuse_audit BEFORE INSERT ON nango._custody_audit_log FOR EACH ROW EXECUTE FUNCTION nango.refuse_audit()`);
    try {
      const before = await authorisedConnections();
      const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=atomic-2&hmac=${hmac('key', 'atomic-2')}`, payload: { apiKey: 'k2' } });
      expect(response.statusCode).toBe(500);
      expect(await database.knex('_nango_connections').where({ connection_id: 'atomic-2' })).toEqual([]);
      const imported = await test.app.inject({ method: 'POST', url: '/connections', headers: AUTH, payload: { provider_config_key: 'key', connection_id: 'atomic-3', credentials: { type: 'API_KEY', apiKey: 'k3' } } });
      expect(imported.statusCode).toBe(500);
      expect(await database.knex('_nango_connections').where({ connection_id: 'atomic-3' })).toEqual([]);
      expect(await authorisedConnections()).toBe(before);
    } finally {
      await database.knex.raw('DROP TRIGGER refuse_audit ON nango._custody_audit_log');
      await database.knex.raw('DROP FUNCTION nango.refuse_audit()');
    }
  });

  it('over an existing connection is recorded as a re-authorisation, and the connection is read anew at once', async () => {
    const again = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=atomic-1&hmac=${hmac('key', 'atomic-1')}`, payload: { apiKey: 'k1-new' } });
    expect(again.statusCode).toBe(200);
    expect(await database.knex('_custody_audit_log').where({ connection_id: 'atomic-1', action: 'connection.reauthorize' })).toHaveLength(1);
    const read = await test.app.inject({ method: 'GET', url: '/connections/atomic-1?provider_config_key=key', headers: AUTH });
    expect(read.json().credentials).toEqual({ type: 'API_KEY', apiKey: 'k1-new' });
  });
});
