import { Nango } from 'nango-node-016';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { basicAuth, buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';

/**
 * The real seed-era Node SDK (@nangohq/node 0.16.0, installed as `nango-node-016`) against a listening server
 * with a secret key. That SDK always sends `Authorization: Bearer <key>` and a JSON content type on its GETs.
 */
const SECRET = 'seed-secret-key';

let database: TestDatabase;
let test: TestApp;
let host: string;
let nango: Nango;

interface AxiosLikeError {
  response?: { status: number; data: { error?: string; type?: string; payload?: unknown } };
}

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET });
  host = await listenOnLoopback(test);
  nango = new Nango({ host, secretKey: SECRET });
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  await post('/config', { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo,user' });
});

/** Setup goes through the HTTP API with the seed scheme (Basic), as an operator's scripts of that era did. */
async function post(path: string, body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${host}${path}`, {
    method: 'POST',
    headers: { authorization: basicAuth(SECRET), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
}

const raw = { access_token: 'gho_access', refresh_token: 'ghr_refresh', token_type: 'bearer', scope: 'repo,user', expires_in: 28800 };

async function importOAuth2(connectionId = 'user-1'): Promise<void> {
  await post('/connection', {
    connection_id: connectionId,
    provider_config_key: 'github-prod',
    type: 'OAUTH2',
    access_token: 'gho_access',
    refresh_token: 'ghr_refresh',
    expires_at: '2099-01-01T00:00:00.000Z',
    metadata: { plan: 'pro' },
    raw,
  });
}

async function importOAuth1(connectionId = 'user-1'): Promise<void> {
  await post('/config', { provider_config_key: 'legacy-oauth1', provider: 'github', oauth_client_id: 'ck', oauth_client_secret: 'cs', oauth_scopes: 'read' });
  await post('/connection', { connection_id: connectionId, provider_config_key: 'legacy-oauth1', type: 'OAUTH1', oauth_token: 'oauth-token', oauth_token_secret: 'oauth-token-secret' });
}

async function rejection(promise: Promise<unknown>): Promise<AxiosLikeError> {
  try {
    await promise;
  } catch (error) {
    return error as AxiosLikeError;
  }
  throw new Error('The SDK call was expected to fail but succeeded.');
}

describe('getConnection', () => {
  it('answers the whole stored connection with its credentials', async () => {
    await importOAuth2();
    const connection = await nango.getConnection('github-prod', 'user-1');
    expect(connection).toMatchObject({
      id: expect.any(Number),
      provider_config_key: 'github-prod',
      connection_id: 'user-1',
      credentials: { type: 'OAUTH2', access_token: 'gho_access', refresh_token: 'ghr_refresh', expires_at: '2099-01-01T00:00:00.000Z', raw },
      connection_config: {},
      metadata: { plan: 'pro' },
    });
    // Storage details are not part of the answer (they meant nothing to a client).
    for (const field of ['credentials_iv', 'credentials_tag', 'account_id']) expect(connection).not.toHaveProperty(field);
  });

  it('works for a connection id with spaces', async () => {
    await importOAuth2('jane doe');
    const connection = await nango.getConnection('github-prod', 'jane doe');
    expect(connection.connection_id).toBe('jane doe');
  });

  it('rejects with 400 unkown_connection for a connection that does not exist', async () => {
    const error = await rejection(nango.getConnection('github-prod', 'nobody'));
    expect(error.response?.status).toBe(400);
    expect(error.response?.data).toMatchObject({ type: 'unkown_connection', payload: {} });
  });

  it('rejects with 400 unknown_provider_config once the integration is deleted', async () => {
    await importOAuth2();
    await database.knex('_nango_configs').where({ unique_key: 'github-prod' }).delete();
    const error = await rejection(nango.getConnection('github-prod', 'user-1'));
    expect(error.response?.status).toBe(400);
    expect(error.response?.data.type).toBe('unknown_provider_config');
  });
});

describe('getToken', () => {
  it('answers the access token as a string for an OAuth2 connection', async () => {
    await importOAuth2();
    await expect(nango.getToken('github-prod', 'user-1')).resolves.toBe('gho_access');
  });

  it('answers {oAuthToken, oAuthTokenSecret} for an OAuth1 connection', async () => {
    await importOAuth1();
    await expect(nango.getToken('legacy-oauth1', 'user-1')).resolves.toEqual({ oAuthToken: 'oauth-token', oAuthTokenSecret: 'oauth-token-secret' });
  });

  it('answers the new token after the connection is imported again', async () => {
    await importOAuth2();
    await post('/connection', { connection_id: 'user-1', provider_config_key: 'github-prod', type: 'OAUTH2', access_token: 'gho_second', expires_at: '2099-01-01T00:00:00.000Z' });
    await expect(nango.getToken('github-prod', 'user-1')).resolves.toBe('gho_second');
  });
});

describe('getRawTokenResponse', () => {
  it('answers the raw token response stored with the connection', async () => {
    await importOAuth2();
    await expect(nango.getRawTokenResponse('github-prod', 'user-1')).resolves.toEqual(raw);
  });

  it('answers the import body as raw when none was given (OAuth1)', async () => {
    await importOAuth1();
    await expect(nango.getRawTokenResponse('legacy-oauth1', 'user-1')).resolves.toEqual({
      connection_id: 'user-1',
      provider_config_key: 'legacy-oauth1',
      type: 'OAUTH1',
      oauth_token: 'oauth-token',
      oauth_token_secret: 'oauth-token-secret',
    });
  });
});

describe('listConnections', () => {
  it('answers {connections: [{id, connection_id, provider, created}]} without credentials, plus the modern fields', async () => {
    await importOAuth2('user-1');
    await importOAuth2('user-2');
    const list = await nango.listConnections();
    const modern = { provider_config_key: 'github-prod', metadata: { plan: 'pro' }, tags: {}, errors: [], end_user: null };
    expect(list).toEqual({
      connections: [
        { id: expect.any(Number), connection_id: 'user-1', provider: 'github-prod', created: expect.any(String), ...modern },
        { id: expect.any(Number), connection_id: 'user-2', provider: 'github-prod', created: expect.any(String), ...modern },
      ],
    });
    expect(JSON.stringify(list)).not.toContain('gho_access');
    expect(JSON.stringify(list)).not.toContain('gho_access');
  });

  it('answers an empty list when there are no connections', async () => {
    await expect(nango.listConnections()).resolves.toEqual({ connections: [] });
  });
});

describe('authentication', () => {
  it('a wrong secret key makes getToken reject with 401 invalid_secret_key', async () => {
    await importOAuth2();
    const wrong = new Nango({ host, secretKey: 'not-the-key' });
    const error = await rejection(wrong.getToken('github-prod', 'user-1'));
    expect(error.response?.status).toBe(401);
    expect(error.response?.data).toEqual({ error: expect.any(String), type: 'invalid_secret_key', payload: {} });
  });

  it('a wrong secret key makes listConnections reject with 401', async () => {
    const wrong = new Nango({ host, secretKey: 'not-the-key' });
    const error = await rejection(wrong.listConnections());
    expect(error.response?.status).toBe(401);
  });

  it('an SDK without a secret key is refused with 401', async () => {
    await importOAuth2();
    const keyless = new Nango({ host });
    const error = await rejection(keyless.getConnection('github-prod', 'user-1'));
    expect(error.response?.status).toBe(401);
    expect(JSON.stringify(error.response?.data)).not.toContain('gho_access');
  });

  it('a host given with a trailing slash works', async () => {
    await importOAuth2();
    const slashed = new Nango({ host: `${host}/`, secretKey: SECRET });
    await expect(slashed.getToken('github-prod', 'user-1')).resolves.toBe('gho_access');
  });
});
