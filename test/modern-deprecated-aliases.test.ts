import { Nango } from '@nangohq/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';

/**
 * The deprecated paths of §2.2 that modern Nango still serves. @nangohq/node 0.71.10 calls none of them (it
 * uses `/connections/…`), but older backends and scripts do: they are called over plain HTTP here, and what
 * they wrote is read back through the real client.
 */
const SECRET_KEY = 'alias-secret';
let database: TestDatabase;
let test: TestApp;
let nango: Nango;
let host: string;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY });
  host = await listenOnLoopback(test);
  nango = new Nango({ host, secretKey: SECRET_KEY });
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  await nango.createIntegration({ provider: 'github', unique_key: 'github', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret' } });
  for (const connectionId of ['u1', 'u2']) {
    const response = await call('POST', '/connections', {
      provider_config_key: 'github',
      connection_id: connectionId,
      metadata: { kept: true, plan: 'free' },
      credentials: { type: 'OAUTH2', access_token: `token-${connectionId}`, refresh_token: `refresh-${connectionId}` },
    });
    expect(response.status).toBe(201);
  }
});

async function call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, authorization: string | null = `Bearer ${SECRET_KEY}`): Promise<Response> {
  return fetch(`${host}${path}`, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

describe('POST and PATCH /connection/metadata (the old spelling of /connections/metadata)', () => {
  it('POST replaces the metadata and answers 201 echoing the request body, as Nango does', async () => {
    const body = { connection_id: 'u1', provider_config_key: 'github', metadata: { plan: 'pro' } };
    const response = await call('POST', '/connection/metadata', body);

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual(body);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ plan: 'pro' });
  });

  it('PATCH merges into the metadata', async () => {
    const response = await call('PATCH', '/connection/metadata', { connection_id: 'u1', provider_config_key: 'github', metadata: { plan: 'pro', seats: 3 } });

    expect(response.status).toBe(200);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ kept: true, plan: 'pro', seats: 3 });
  });

  it('POST with a list of connection ids writes every one of them', async () => {
    const response = await call('POST', '/connection/metadata', { connection_id: ['u1', 'u2'], provider_config_key: 'github', metadata: { region: 'eu' } });

    expect(response.status).toBe(201);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ region: 'eu' });
    expect(await nango.getMetadata('github', 'u2')).toEqual({ region: 'eu' });
  });

  it('an unknown connection is a 404 unknown_connection in the modern error shape, and nothing is written', async () => {
    const response = await call('POST', '/connection/metadata', { connection_id: ['u1', 'missing'], provider_config_key: 'github', metadata: { region: 'eu' } });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'unknown_connection', message: expect.stringContaining('missing') } });
    expect(await nango.getMetadata('github', 'u1')).toEqual({ kept: true, plan: 'free' });
  });

  it('without the secret key is a 401 in the modern error shape', async () => {
    const response = await call('PATCH', '/connection/metadata', { connection_id: 'u1', provider_config_key: 'github', metadata: {} }, null);

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'missing_auth_header', message: expect.any(String) } });
  });
});

describe('POST and PATCH /connection/:id/metadata?provider_config_key= (the body is the metadata itself)', () => {
  it('POST replaces the metadata and answers 201 with it, the connection and the integration', async () => {
    const response = await call('POST', '/connection/u1/metadata?provider_config_key=github', { plan: 'pro' });

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ metadata: { plan: 'pro' }, connection_id: 'u1', provider_config_key: 'github' });
    expect(await nango.getMetadata('github', 'u1')).toEqual({ plan: 'pro' });
  });

  it('PATCH merges into the metadata', async () => {
    const response = await call('PATCH', '/connection/u1/metadata?provider_config_key=github', { seats: 3 });

    expect(response.status).toBe(200);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ kept: true, plan: 'free', seats: 3 });
  });

  it('leaves the other connections alone', async () => {
    await call('POST', '/connection/u1/metadata?provider_config_key=github', { plan: 'pro' });

    expect(await nango.getMetadata('github', 'u2')).toEqual({ kept: true, plan: 'free' });
  });

  it('an unknown connection is a 404 unknown_connection in the modern error shape', async () => {
    const response = await call('PATCH', '/connection/missing/metadata?provider_config_key=github', { seats: 3 });

    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('unknown_connection');
  });

  it('without provider_config_key is a 400 invalid_query_params naming it', async () => {
    const response = await call('POST', '/connection/u1/metadata', { plan: 'pro' });

    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe('invalid_query_params');
    expect(error.message).toContain('provider_config_key');
    expect(error.message).toContain('Provider-Config-Key');
  });

  it('POST takes the integration key from the Provider-Config-Key header, the form Nango documents', async () => {
    const response = await fetch(`${host}/connection/u1/metadata`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', 'provider-config-key': 'github' },
      body: JSON.stringify({ plan: 'pro' }),
    });

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ metadata: { plan: 'pro' }, connection_id: 'u1', provider_config_key: 'github' });
    expect(await nango.getMetadata('github', 'u1')).toEqual({ plan: 'pro' });
  });

  it('PATCH takes the integration key from the Provider-Config-Key header', async () => {
    const response = await fetch(`${host}/connection/u1/metadata`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', 'provider-config-key': 'github' },
      body: JSON.stringify({ seats: 3 }),
    });

    expect(response.status).toBe(200);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ kept: true, plan: 'free', seats: 3 });
  });

  it('a header naming an integration without that connection is a 404 unknown_connection, and nothing is written', async () => {
    const response = await fetch(`${host}/connection/u1/metadata`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', 'provider-config-key': 'gitlab' },
      body: JSON.stringify({ plan: 'pro' }),
    });

    expect(response.status).toBe(404);
    expect(await nango.getMetadata('github', 'u1')).toEqual({ kept: true, plan: 'free' });
  });
});

describe('POST /connections/metadata', () => {
  it('answers 201 echoing the request body, as Nango does; PATCH answers 200', async () => {
    const body = { connection_id: 'u1', provider_config_key: 'github', metadata: { plan: 'pro' } };
    const posted = await call('POST', '/connections/metadata', body);
    const patched = await call('PATCH', '/connections/metadata', body);

    expect(posted.status).toBe(201);
    expect(await posted.json()).toEqual(body);
    expect(patched.status).toBe(200);
  });
});

describe('GET /connection/:id, GET /connection and POST /connection stay the seed handlers', () => {
  it('GET /connection/:id with a Bearer key answers the stored row, refresh token included, as seed clients expect', async () => {
    const response = await call('GET', '/connection/u1?provider_config_key=github');

    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ connection_id: 'u1', provider_config_key: 'github', credentials: { access_token: 'token-u1', refresh_token: 'refresh-u1' } });
    // The fields modern Nango requires on this path are there too; its storage details are not.
    expect(body).toMatchObject({ provider: 'github', errors: [], end_user: null, tags: {}, metadata: { kept: true, plan: 'free' }, last_fetched_at: expect.any(String) });
    expect(body).not.toHaveProperty('account_id');
  });

  it('GET /connection/:id with refresh_token=false leaves the refresh token out', async () => {
    const response = await call('GET', '/connection/u1?provider_config_key=github&refresh_token=false');

    expect(response.status).toBe(200);
    expect(await response.text()).not.toContain('refresh-u1');
  });

  it('DELETE /connection/:id answers {"success": true}, as modern Nango does', async () => {
    const response = await fetch(`${host}/connection/u2?provider_config_key=github`, { method: 'DELETE', headers: { authorization: `Bearer ${SECRET_KEY}` } });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true });
  });

  it('GET /connection answers the seed list, whose "provider" is the integration key', async () => {
    const response = await call('GET', '/connection');

    expect(response.status).toBe(200);
    const { connections } = (await response.json()) as { connections: Record<string, unknown>[] };
    const keys = ['connection_id', 'created', 'end_user', 'errors', 'id', 'metadata', 'provider', 'provider_config_key', 'tags'];
    expect(connections.map((connection) => Object.keys(connection).sort())).toEqual([keys, keys]);
    expect(connections[0]).toMatchObject({ provider: 'github', provider_config_key: 'github' });
  });

  it('POST /connection takes the seed import body (flat token fields), not the modern one', async () => {
    const seed = await call('POST', '/connection', { connection_id: 'u3', provider_config_key: 'github', type: 'OAUTH2', access_token: 'token-u3' });
    const modern = await call('POST', '/connection', { connection_id: 'u4', provider_config_key: 'github', credentials: { type: 'OAUTH2', access_token: 'token-u4' } });

    expect(seed.status).toBe(201);
    expect(await nango.getToken('github', 'u3')).toBe('token-u3');
    expect(modern.status).toBe(400);
    expect(await modern.json()).toMatchObject({ type: expect.any(String), error: expect.any(String) });
  });
});

describe('NANGO_SEED_REFRESH_TOKENS=false', () => {
  it('GET /connection/:id leaves refresh tokens out unless the request asks with refresh_token=true', async () => {
    const strict = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET_KEY, NANGO_SEED_REFRESH_TOKENS: 'false' });
    try {
      const read = (query: string) => strict.app.inject({ method: 'GET', url: `/connection/u1?provider_config_key=github${query}`, headers: { authorization: `Bearer ${SECRET_KEY}` } });
      const plain = await read('');
      expect(plain.statusCode).toBe(200);
      expect(plain.body).not.toContain('refresh-u1');
      expect(plain.json().credentials).toMatchObject({ access_token: 'token-u1' });
      expect((await read('&refresh_token=true')).json().credentials).toMatchObject({ refresh_token: 'refresh-u1' });
    } finally {
      await strict.close();
    }
  });
});
