import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/** The seed `/connection` routes: the v0.20 import, the raw row, the v0.16 list and delete. */
let database: TestDatabase;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  await createConfig('github-prod', 'github');
});

const FAR_FUTURE = '2099-01-01T00:00:00.000Z';

const oauth2Import = {
  connection_id: 'user-1',
  provider_config_key: 'github-prod',
  type: 'OAUTH2',
  access_token: 'access-1',
  refresh_token: 'refresh-1',
  expires_at: FAR_FUTURE,
};

async function createConfig(key: string, provider: string): Promise<void> {
  const response = await test.app.inject({
    method: 'POST',
    url: '/config',
    payload: { provider_config_key: key, provider, oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' },
  });
  expect(response.statusCode).toBe(200);
}

function importConnection(body: Record<string, unknown>) {
  return test.app.inject({ method: 'POST', url: '/connection', payload: body });
}

function getConnection(connectionId: string, query = 'provider_config_key=github-prod') {
  return test.app.inject({ method: 'GET', url: `/connection/${encodeURIComponent(connectionId)}${query ? `?${query}` : ''}` });
}

async function rowCount(): Promise<number> {
  const [row] = await database.knex('_nango_connections').count<{ n: string }[]>({ n: '*' });
  return Number(row?.n);
}

describe('POST /connection (import)', () => {
  it('answers 201 echoing the request body', async () => {
    const response = await importConnection(oauth2Import);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual(oauth2Import);
  });

  it('stores an OAuth2 connection that GET /connection/:id then serves', async () => {
    await importConnection({ ...oauth2Import, metadata: { plan: 'pro' }, connection_config: { subdomain: 'acme' } });
    const response = await getConnection('user-1');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      provider_config_key: 'github-prod',
      connection_id: 'user-1',
      credentials: { type: 'OAUTH2', access_token: 'access-1', refresh_token: 'refresh-1', expires_at: FAR_FUTURE },
      metadata: { plan: 'pro' },
      connection_config: { subdomain: 'acme' },
    });
  });

  it('upper-cases a lower-case type', async () => {
    const response = await importConnection({ ...oauth2Import, type: 'oauth2' });
    expect(response.statusCode).toBe(201);
    expect(response.json().type).toBe('oauth2');
    expect((await getConnection('user-1')).json().credentials.type).toBe('OAUTH2');
  });

  it('keeps "raw" as sent when the body carries one', async () => {
    await importConnection({ ...oauth2Import, raw: { access_token: 'access-1', scope: 'repo', token_type: 'bearer' } });
    expect((await getConnection('user-1')).json().credentials.raw).toEqual({ access_token: 'access-1', scope: 'repo', token_type: 'bearer' });
  });

  it('uses the whole body as "raw" when none is sent', async () => {
    await importConnection(oauth2Import);
    expect((await getConnection('user-1')).json().credentials.raw).toEqual(oauth2Import);
  });

  it('turns expires_in into an expires_at that many seconds from now', async () => {
    const { expires_at: _expiresAt, ...withoutExpiry } = oauth2Import;
    const before = Date.now();
    await importConnection({ ...withoutExpiry, expires_in: 3600 });
    const expiresAt = Date.parse((await getConnection('user-1')).json().credentials.expires_at as string);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
  });

  it('stores an OAuth1 token pair', async () => {
    // The import does not check the provider's auth mode (nor did Nango's), so any integration holds a token pair.
    await createConfig('legacy-oauth1', 'github');
    const body = { connection_id: 'user-1', provider_config_key: 'legacy-oauth1', type: 'OAUTH1', oauth_token: 'tok', oauth_token_secret: 'tok-secret' };
    const response = await importConnection(body);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual(body);
    const stored = await getConnection('user-1', 'provider_config_key=legacy-oauth1');
    expect(stored.json().credentials).toEqual({ type: 'OAUTH1', oauth_token: 'tok', oauth_token_secret: 'tok-secret', raw: body });
  });

  it('replaces the connection when the same pair is imported twice', async () => {
    await importConnection({ ...oauth2Import, metadata: { version: 1 } });
    const second = await importConnection({ ...oauth2Import, access_token: 'access-2', refresh_token: 'refresh-2', metadata: { version: 2 } });
    expect(second.statusCode).toBe(201);
    expect(await rowCount()).toBe(1);
    const stored = (await getConnection('user-1')).json();
    expect(stored.credentials).toMatchObject({ access_token: 'access-2', refresh_token: 'refresh-2' });
    expect(stored.metadata).toEqual({ version: 2 });
  });

  it('keeps the same connection id and creation time when replacing', async () => {
    await importConnection(oauth2Import);
    const first = (await getConnection('user-1')).json();
    await importConnection({ ...oauth2Import, access_token: 'access-2' });
    const second = (await getConnection('user-1')).json();
    expect(second.id).toBe(first.id);
    expect(second.created_at).toBe(first.created_at);
  });

  it.each([
    ['connection_id', 'missing_connection'],
    ['provider_config_key', 'missing_provider_config'],
  ])('answers 400 %s missing → %s', async (field, code) => {
    const body: Record<string, unknown> = { ...oauth2Import };
    delete body[field];
    const response = await importConnection(body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining(field), type: code, payload: {} });
  });

  it('takes the credential type from the provider\'s auth mode when the body has no type, as modern Nango does', async () => {
    const { type: _type, ...body } = oauth2Import;
    const response = await importConnection(body);
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual(body);
    expect((await getConnection('user-1')).json().credentials).toMatchObject({ type: 'OAUTH2', access_token: 'access-1', refresh_token: 'refresh-1' });
  });

  it('without a type, answers unknown_provider_config for an integration that does not exist', async () => {
    const { type: _type, ...body } = oauth2Import;
    const response = await importConnection({ ...body, provider_config_key: 'nope' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unknown_provider_config', error: expect.stringContaining('nope'), payload: {} });
    expect(await rowCount()).toBe(0);
  });

  it('without a type, refuses an integration whose provider issues no OAuth tokens, naming POST /connections', async () => {
    const created = await test.app.inject({ method: 'POST', url: '/integrations', payload: { provider: 'fullstory', unique_key: 'keyed' } });
    expect(created.statusCode).toBe(200);
    const { type: _type, ...body } = oauth2Import;
    const response = await importConnection({ ...body, provider_config_key: 'keyed' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unknown_oauth_type', error: expect.stringContaining('POST /connections') });
    expect(await rowCount()).toBe(0);
  });

  it('answers unknown_oauth_type for a type that is neither OAUTH2 nor OAUTH1', async () => {
    const response = await importConnection({ ...oauth2Import, type: 'SAML' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unknown_oauth_type', error: expect.stringContaining('SAML'), payload: {} });
  });

  it('answers missing_access_token for OAUTH2 without an access token', async () => {
    const { access_token: _token, ...body } = oauth2Import;
    const response = await importConnection(body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'missing_access_token', error: expect.stringContaining('access_token') });
  });

  it('answers missing_oauth_token for OAUTH1 without oauth_token', async () => {
    const response = await importConnection({ connection_id: 'u', provider_config_key: 'github-prod', type: 'OAUTH1', oauth_token_secret: 's' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'missing_oauth_token', error: expect.stringContaining('oauth_token') });
  });

  it('answers missing_oauth_token_secret for OAUTH1 without oauth_token_secret', async () => {
    const response = await importConnection({ connection_id: 'u', provider_config_key: 'github-prod', type: 'OAUTH1', oauth_token: 't' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'missing_oauth_token_secret', error: expect.stringContaining('oauth_token_secret') });
  });

  it('answers unknown_provider_config for an integration that does not exist', async () => {
    const response = await importConnection({ ...oauth2Import, provider_config_key: 'nope' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unknown_provider_config', error: expect.stringContaining('nope'), payload: {} });
  });

  it('writes nothing when the import is refused', async () => {
    await importConnection({ ...oauth2Import, provider_config_key: 'nope' });
    await importConnection({ ...oauth2Import, type: 'SAML' });
    await importConnection({ ...oauth2Import, access_token: 42 });
    expect(await rowCount()).toBe(0);
  });
});

describe('GET /connection/:id', () => {
  it('answers the stored row itself, credentials decrypted, in the seed shape', async () => {
    await importConnection({ ...oauth2Import, metadata: { plan: 'pro' }, connection_config: { subdomain: 'acme' } });
    const response = await getConnection('user-1');
    expect(response.statusCode).toBe(200);
    const row = response.json();
    expect(row).toMatchObject({
      id: expect.any(Number),
      created_at: expect.any(String),
      updated_at: expect.any(String),
      provider_config_key: 'github-prod',
      connection_id: 'user-1',
      credentials: {
        type: 'OAUTH2',
        access_token: 'access-1',
        refresh_token: 'refresh-1',
        expires_at: FAR_FUTURE,
        raw: expect.any(Object),
      },
      connection_config: { subdomain: 'acme' },
      metadata: { plan: 'pro' },
    });
    expect(new Date(row.created_at as string).toISOString()).toBe(row.created_at);
  });

  it('adds the fields modern Nango answers on this path: provider (the provider\'s name), errors, end_user, tags, last_fetched_at', async () => {
    await importConnection(oauth2Import);
    const row = (await getConnection('user-1')).json();
    expect(row).toMatchObject({ provider_config_key: 'github-prod', provider: 'github', errors: [], end_user: null, tags: {}, last_fetched_at: expect.any(String) });
  });

  it('does not expose storage details: credentials_iv, credentials_tag, account_id', async () => {
    await importConnection(oauth2Import);
    const row = (await getConnection('user-1')).json();
    for (const field of ['credentials_iv', 'credentials_tag', 'account_id']) expect(row).not.toHaveProperty(field);
  });

  it('keeps the refresh token by default, as the seed server did, and drops it (raw included) for refresh_token=false', async () => {
    await importConnection({ ...oauth2Import, raw: { access_token: 'access-1', refresh_token: 'refresh-1' } });
    expect((await getConnection('user-1')).json().credentials).toMatchObject({ refresh_token: 'refresh-1', raw: { refresh_token: 'refresh-1' } });
    const stripped = await getConnection('user-1', 'provider_config_key=github-prod&refresh_token=false');
    expect(stripped.statusCode).toBe(200);
    expect(stripped.body).not.toContain('refresh-1');
    expect(stripped.json().credentials).toMatchObject({ type: 'OAUTH2', access_token: 'access-1' });
  });

  it('answers empty objects for connection_config and metadata that were not given', async () => {
    await importConnection(oauth2Import);
    expect((await getConnection('user-1')).json()).toMatchObject({ connection_config: {}, metadata: {} });
  });

  it('answers 400 unkown_connection (sic) for a connection that does not exist', async () => {
    const response = await getConnection('nobody');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining('nobody'), type: 'unkown_connection', payload: {} });
  });

  it('answers unkown_connection for a connection id known under another integration only', async () => {
    await createConfig('github-staging', 'github');
    await importConnection(oauth2Import);
    const response = await getConnection('user-1', 'provider_config_key=github-staging');
    expect(response.json().type).toBe('unkown_connection');
  });

  it('answers 400 missing_provider_config without provider_config_key (Nango answered 500)', async () => {
    await importConnection(oauth2Import);
    const response = await getConnection('user-1', '');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining('provider_config_key'), type: 'missing_provider_config', payload: {} });
  });

  it('answers missing_provider_config for an empty provider_config_key', async () => {
    const response = await getConnection('user-1', 'provider_config_key=');
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('missing_provider_config');
  });

  it('accepts force_refresh=false', async () => {
    await importConnection(oauth2Import);
    const response = await getConnection('user-1', 'provider_config_key=github-prod&force_refresh=false');
    expect(response.statusCode).toBe(200);
    expect(response.json().credentials.access_token).toBe('access-1');
  });

  it('answers 400 naming force_refresh when it is not "true" or "false"', async () => {
    await importConnection(oauth2Import);
    const response = await getConnection('user-1', 'provider_config_key=github-prod&force_refresh=maybe');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_query_params', error: expect.stringContaining('force_refresh') });
  });

  it('answers 400 invalid_query_params for an unknown query parameter', async () => {
    await importConnection(oauth2Import);
    const response = await getConnection('user-1', 'provider_config_key=github-prod&include=secrets');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_query_params', error: expect.stringContaining('include') });
  });

  it('answers unknown_provider_config when the integration row is gone but the connection remains', async () => {
    await importConnection(oauth2Import);
    await database.knex('_nango_configs').where({ unique_key: 'github-prod' }).delete();
    const response = await getConnection('user-1');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unknown_provider_config', payload: {} });
  });
});

describe('GET /connection', () => {
  it('lists connections as {id, connection_id, provider, created} with the key under "provider", plus the modern fields', async () => {
    await importConnection({ ...oauth2Import, metadata: { plan: 'pro' } });
    const response = await test.app.inject({ method: 'GET', url: '/connection' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      connections: [
        {
          id: expect.any(Number),
          connection_id: 'user-1',
          provider: 'github-prod',
          created: expect.any(String),
          provider_config_key: 'github-prod',
          metadata: { plan: 'pro' },
          tags: {},
          errors: [],
          end_user: null,
        },
      ],
    });
    expect(Number.isNaN(Date.parse(body.connections[0].created as string))).toBe(false);
  });

  it('does not include credentials', async () => {
    await importConnection(oauth2Import);
    const response = await test.app.inject({ method: 'GET', url: '/connection' });
    expect(response.body).not.toContain('access-1');
    expect(response.body).not.toContain('refresh-1');
  });

  it('answers an empty list when there are none', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/connection' });
    expect(response.json()).toEqual({ connections: [] });
  });

  it('lists connections in creation order across integrations', async () => {
    await createConfig('github-staging', 'github');
    await importConnection(oauth2Import);
    await importConnection({ ...oauth2Import, connection_id: 'user-2', provider_config_key: 'github-staging' });
    const { connections } = (await test.app.inject({ method: 'GET', url: '/connection' })).json();
    expect(connections.map((c: { connection_id: string; provider: string }) => [c.connection_id, c.provider])).toEqual([
      ['user-1', 'github-prod'],
      ['user-2', 'github-staging'],
    ]);
  });

  it('filters by ?connectionId=', async () => {
    await importConnection(oauth2Import);
    await importConnection({ ...oauth2Import, connection_id: 'user-2' });
    const response = await test.app.inject({ method: 'GET', url: '/connection?connectionId=user-2' });
    expect(response.json().connections).toEqual([expect.objectContaining({ connection_id: 'user-2' })]);
  });

  it('answers an empty list for a connectionId that matches nothing', async () => {
    await importConnection(oauth2Import);
    const response = await test.app.inject({ method: 'GET', url: '/connection?connectionId=nobody' });
    expect(response.json()).toEqual({ connections: [] });
  });
});

describe('DELETE /connection/:id', () => {
  it('deletes the connection and answers 200 {"success": true}, as modern Nango does (seed clients ignore the body)', async () => {
    await importConnection(oauth2Import);
    const response = await test.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ success: true });
    expect((await getConnection('user-1')).json().type).toBe('unkown_connection');
  });

  it('leaves the integration and other connections in place', async () => {
    await importConnection(oauth2Import);
    await importConnection({ ...oauth2Import, connection_id: 'user-2' });
    await test.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod' });
    expect((await getConnection('user-2')).statusCode).toBe(200);
    expect((await test.app.inject({ method: 'GET', url: '/config/github-prod' })).statusCode).toBe(200);
  });

  it('answers 400 missing_provider_config without provider_config_key', async () => {
    await importConnection(oauth2Import);
    const response = await test.app.inject({ method: 'DELETE', url: '/connection/user-1' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining('provider_config_key'), type: 'missing_provider_config', payload: {} });
    expect(await rowCount()).toBe(1);
  });

  it('answers 400 unkown_connection for a connection that does not exist', async () => {
    const response = await test.app.inject({ method: 'DELETE', url: '/connection/nobody?provider_config_key=github-prod' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'unkown_connection', payload: {} });
  });

  it('accepts a JSON content type without a body, as axios sends on DELETE', async () => {
    await importConnection(oauth2Import);
    const response = await test.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(200);
  });
});

describe('connection ids', () => {
  const ids: [string, string][] = [
    ['with spaces', 'jane doe 42'],
    ['with unicode', 'usuário-ユーザー-🔑'],
    ['with slashes (sent as %2F)', 'org/team/user-1'],
    ['with reserved URL characters', 'a?b#c&d=e%f+g'],
    ['of 255 characters', 'x'.repeat(255)],
  ];

  it.each(ids)('an id %s is imported, read, listed and deleted', async (_label, connectionId) => {
    expect((await importConnection({ ...oauth2Import, connection_id: connectionId })).statusCode).toBe(201);
    const read = await getConnection(connectionId);
    expect(read.statusCode).toBe(200);
    expect(read.json().connection_id).toBe(connectionId);
    const listed = await test.app.inject({ method: 'GET', url: `/connection?connectionId=${encodeURIComponent(connectionId)}` });
    expect(listed.json().connections).toEqual([expect.objectContaining({ connection_id: connectionId })]);
    const deleted = await test.app.inject({ method: 'DELETE', url: `/connection/${encodeURIComponent(connectionId)}?provider_config_key=github-prod` });
    expect(deleted.statusCode).toBe(200);
    expect(await rowCount()).toBe(0);
  });

  it('refuses to import an id of 256 characters with a 400 naming connection_id', async () => {
    const response = await importConnection({ ...oauth2Import, connection_id: 'x'.repeat(256) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_body', error: expect.stringContaining('connection_id'), payload: expect.any(Object) });
    expect(await rowCount()).toBe(0);
  });

  it('answers 400 for GET of an id of 256 characters', async () => {
    const response = await getConnection('x'.repeat(256));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_uri_params' });
  });

  it('answers 400 for DELETE of an id of 256 characters', async () => {
    const response = await test.app.inject({ method: 'DELETE', url: `/connection/${'x'.repeat(256)}?provider_config_key=github-prod` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_uri_params' });
  });
});
