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
  it('POST replaces the metadata and echoes the request body', async () => {
    const body = { connection_id: 'u1', provider_config_key: 'github', metadata: { plan: 'pro' } };
    const response = await call('POST', '/connection/metadata', body);

    expect(response.status).toBe(200);
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

    expect(response.status).toBe(200);
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
  it('POST replaces the metadata and answers it with the connection and integration', async () => {
    const response = await call('POST', '/connection/u1/metadata?provider_config_key=github', { plan: 'pro' });

    expect(response.status).toBe(200);
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
  });
});

describe('GET /connection/:id, GET /connection and POST /connection stay the seed handlers', () => {
  it('GET /connection/:id with a Bearer key answers the stored row, refresh token included, as seed clients expect', async () => {
    const response = await call('GET', '/connection/u1?provider_config_key=github');

    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ connection_id: 'u1', provider_config_key: 'github', account_id: 0, credentials: { access_token: 'token-u1', refresh_token: 'refresh-u1' } });
    // The modern fields of GET /connections/:id are not part of this answer.
    expect(body).not.toHaveProperty('errors');
    expect(body).not.toHaveProperty('provider');
  });

  it('GET /connection answers the seed list, whose "provider" is the integration key', async () => {
    const response = await call('GET', '/connection');

    expect(response.status).toBe(200);
    const { connections } = (await response.json()) as { connections: Record<string, unknown>[] };
    expect(connections.map((connection) => Object.keys(connection).sort())).toEqual([
      ['connection_id', 'created', 'id', 'provider'],
      ['connection_id', 'created', 'id', 'provider'],
    ]);
    expect(connections[0]).toMatchObject({ provider: 'github' });
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
