import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { basicAuth, bearerAuth, buildTestApp, type TestApp } from './support/test-app.js';

/** NANGO_SECRET_KEY on the seed API: Basic (the seed scheme), Bearer (what the 0.15/0.16 SDKs send), and an open API without a key. */
const KEY = 'sk-test-7f3a';

let database: TestDatabase;
let locked: TestApp;
let open: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  locked = await buildTestApp(database, { NANGO_SECRET_KEY: KEY });
  open = await buildTestApp(database);
});

afterAll(async () => {
  await locked?.close();
  await open?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database, '_custody_audit_log');
});

const githubConfig = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' };
const githubConnection = { connection_id: 'user-1', provider_config_key: 'github-prod', type: 'OAUTH2', access_token: 'access-1', expires_at: '2099-01-01T00:00:00.000Z' };

function basic(userAndPassword: string): string {
  return `Basic ${Buffer.from(userAndPassword).toString('base64')}`;
}

/** One write and one read on each of /config and /connection, all with the given header. */
async function exerciseApi(app: TestApp, authorization: string | undefined): Promise<number[]> {
  const headers = authorization === undefined ? {} : { authorization };
  const statuses: number[] = [];
  for (const request of [
    { method: 'POST' as const, url: '/config', payload: githubConfig },
    { method: 'GET' as const, url: '/config' },
    { method: 'GET' as const, url: '/config/github-prod' },
    { method: 'POST' as const, url: '/connection', payload: githubConnection },
    { method: 'GET' as const, url: '/connection' },
    { method: 'GET' as const, url: '/connection/user-1?provider_config_key=github-prod' },
  ]) {
    statuses.push((await app.app.inject({ ...request, headers })).statusCode);
  }
  return statuses;
}

async function tableCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['_nango_configs', '_nango_connections', '_custody_audit_log']) {
    const [row] = await database.knex(table).count<{ n: string }[]>({ n: '*' });
    counts[table] = Number(row?.n);
  }
  return counts;
}

async function seedIntegrationAndConnection(): Promise<void> {
  expect((await locked.app.inject({ method: 'POST', url: '/config', payload: githubConfig, headers: { authorization: bearerAuth(KEY) } })).statusCode).toBe(200);
  expect((await locked.app.inject({ method: 'POST', url: '/connection', payload: githubConnection, headers: { authorization: bearerAuth(KEY) } })).statusCode).toBe(201);
}

describe('with NANGO_SECRET_KEY set', () => {
  it('accepts Basic base64("<key>:") on /config and /connection', async () => {
    expect(await exerciseApi(locked, basicAuth(KEY))).toEqual([200, 200, 200, 201, 200, 200]);
  });

  it('accepts Basic with any password, comparing only the user part', async () => {
    expect(await exerciseApi(locked, basic(`${KEY}:anything-at-all`))).toEqual([200, 200, 200, 201, 200, 200]);
  });

  it('accepts Bearer <key>, as the 0.15/0.16 Node SDKs send it', async () => {
    expect(await exerciseApi(locked, bearerAuth(KEY))).toEqual([200, 200, 200, 201, 200, 200]);
  });

  it('accepts the key on PUT and DELETE too', async () => {
    await seedIntegrationAndConnection();
    const headers = { authorization: basicAuth(KEY) };
    expect((await locked.app.inject({ method: 'PUT', url: '/config', payload: { ...githubConfig, oauth_client_id: 'cid-2' }, headers })).statusCode).toBe(200);
    expect((await locked.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod', headers })).statusCode).toBe(200);
    expect((await locked.app.inject({ method: 'DELETE', url: '/config/github-prod', headers })).statusCode).toBe(200);
  });

  it('answers 401 missing_auth_header without an Authorization header', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/config' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'missing_auth_header', payload: {} });
  });

  it('answers missing_auth_header on every seed route', async () => {
    expect(await exerciseApi(locked, undefined)).toEqual([401, 401, 401, 401, 401, 401]);
  });

  it('answers 401 invalid_secret_key for a wrong key sent as Basic', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/connection', headers: { authorization: basicAuth('wrong-key') } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'invalid_secret_key', payload: {} });
  });

  it('answers 401 invalid_secret_key for a wrong key sent as Bearer', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/config', headers: { authorization: bearerAuth('wrong-key') } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'invalid_secret_key', payload: {} });
  });

  it('answers invalid_secret_key when the key is sent as the Basic password instead of the user', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/config', headers: { authorization: basic(`someone:${KEY}`) } });
    expect(response.statusCode).toBe(401);
    expect(response.json().type).toBe('invalid_secret_key');
  });

  it('answers invalid_secret_key for a key that only starts like the real one', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/config', headers: { authorization: bearerAuth(`${KEY}x`) } });
    expect(response.statusCode).toBe(401);
    expect(response.json().type).toBe('invalid_secret_key');
  });

  it('answers 401 malformed_auth_header for an unknown scheme ("Token xyz")', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/config', headers: { authorization: 'Token xyz' } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'malformed_auth_header', payload: {} });
  });

  it('answers 401 malformed_auth_header for "Bearer" with no key', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/connection', headers: { authorization: 'Bearer' } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: expect.any(String), type: 'malformed_auth_header', payload: {} });
  });

  it('explains every refusal with a readable message that does not echo the key', async () => {
    for (const authorization of [undefined, basicAuth('wrong'), bearerAuth('wrong'), 'Token xyz', 'Bearer']) {
      const response = await locked.app.inject({ method: 'GET', url: '/config', headers: authorization ? { authorization } : {} });
      const body = response.json();
      expect(body.error).toMatch(/^[A-Z].{15,}/);
      expect(response.body).not.toContain(KEY);
    }
  });

  it('serves /health without a key', async () => {
    const response = await locked.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ result: 'ok' });
  });

  it('does not hand out credentials to a request without the key', async () => {
    await seedIntegrationAndConnection();
    const response = await locked.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=github-prod', headers: { authorization: bearerAuth('wrong') } });
    expect(response.statusCode).toBe(401);
    expect(response.body).not.toContain('access-1');
    const configs = await locked.app.inject({ method: 'GET', url: '/config', headers: { authorization: basicAuth('wrong') } });
    expect(configs.body).not.toContain('csecret');
  });

  it('writes nothing for refused creates (no integration, no connection, no audit entry)', async () => {
    const before = await tableCounts();
    for (const authorization of [undefined, basicAuth('wrong'), bearerAuth('wrong'), 'Token xyz', 'Bearer']) {
      const headers = authorization ? { authorization } : {};
      expect((await locked.app.inject({ method: 'POST', url: '/config', payload: githubConfig, headers })).statusCode).toBe(401);
      expect((await locked.app.inject({ method: 'POST', url: '/connection', payload: githubConnection, headers })).statusCode).toBe(401);
    }
    expect(await tableCounts()).toEqual(before);
  });

  it('changes and deletes nothing for refused PUT and DELETE requests', async () => {
    await seedIntegrationAndConnection();
    const snapshot = {
      configs: await database.knex('_nango_configs').select('*').orderBy('id'),
      connections: await database.knex('_nango_connections').select('*').orderBy('id'),
      audit: await database.knex('_custody_audit_log').select('*').orderBy('id'),
    };
    const headers = { authorization: bearerAuth('wrong') };
    expect((await locked.app.inject({ method: 'PUT', url: '/config', payload: { ...githubConfig, oauth_client_secret: 'stolen' }, headers })).statusCode).toBe(401);
    expect((await locked.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=github-prod', headers })).statusCode).toBe(401);
    expect((await locked.app.inject({ method: 'DELETE', url: '/config/github-prod', headers })).statusCode).toBe(401);
    expect({
      configs: await database.knex('_nango_configs').select('*').orderBy('id'),
      connections: await database.knex('_nango_connections').select('*').orderBy('id'),
      audit: await database.knex('_custody_audit_log').select('*').orderBy('id'),
    }).toEqual(snapshot);
  });

  it('checks the key before validating the request', async () => {
    const response = await locked.app.inject({ method: 'POST', url: '/config', payload: '{not json', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(401);
    expect(response.json().type).toBe('missing_auth_header');
  });
});

describe('without NANGO_SECRET_KEY', () => {
  it('serves every seed route without an Authorization header', async () => {
    expect(await exerciseApi(open, undefined)).toEqual([200, 200, 200, 201, 200, 200]);
  });

  it.each([
    ['a Bearer key', bearerAuth('whatever')],
    ['a Basic key', basicAuth('whatever')],
    ['an unknown scheme', 'Token xyz'],
    ['a bare "Bearer"', 'Bearer'],
    ['garbage', '%%%'],
  ])('ignores an Authorization header holding %s', async (_label, authorization) => {
    expect(await exerciseApi(open, authorization)).toEqual([200, 200, 200, 201, 200, 200]);
  });
});
