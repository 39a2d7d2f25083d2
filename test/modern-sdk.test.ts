import { Nango } from '@nangohq/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';

/** Every auth, connection and integration method of the real @nangohq/node 0.71.10 against a listening server. */
let database: TestDatabase;
let test: TestApp;
let nango: Nango;
let host: string;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'modern-secret' });
  host = await listenOnLoopback(test);
  nango = new Nango({ host, secretKey: 'modern-secret' });
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database, '_custody_connect_sessions');
});

async function githubIntegration(key = 'github'): Promise<void> {
  await nango.createIntegration({ provider: 'github', unique_key: key, display_name: 'GitHub (prod)', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret', scopes: 'repo,user' } });
}

async function importConnection(connectionId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const response = await fetch(`${host}/connections`, {
    method: 'POST',
    headers: { authorization: 'Bearer modern-secret', 'content-type': 'application/json' },
    body: JSON.stringify({
      provider_config_key: 'github',
      connection_id: connectionId,
      credentials: { type: 'OAUTH2', access_token: `token-${connectionId}`, refresh_token: `refresh-${connectionId}`, raw: { access_token: `token-${connectionId}`, refresh_token: `refresh-${connectionId}` } },
      ...extra,
    }),
  });
  expect(response.status).toBe(201);
}

describe('providers', () => {
  it('listProviders searches the catalog', async () => {
    const { data } = await nango.listProviders({ search: 'git' });
    expect(data.map((provider) => provider.name)).toContain('github');
  });

  it('getProvider answers one template with its name', async () => {
    const { data } = await nango.getProvider({ provider: 'github' });
    expect(data).toMatchObject({ name: 'github', auth_mode: 'OAUTH2', display_name: 'GitHub' });
  });
});

describe('integrations', () => {
  it('createIntegration then listIntegrations shows it', async () => {
    await githubIntegration();
    const { configs } = await nango.listIntegrations();
    expect(configs).toEqual([expect.objectContaining({ unique_key: 'github', provider: 'github', display_name: 'GitHub (prod)', logo: expect.stringContaining('/logos/github.svg') })]);
  });

  it('getIntegration includes credentials only when asked', async () => {
    await githubIntegration();
    const plain = await nango.getIntegration({ uniqueKey: 'github' });
    expect(plain.data).not.toHaveProperty('credentials');
    const withCredentials = await nango.getIntegration({ uniqueKey: 'github' }, { include: ['credentials'] });
    expect(withCredentials.data).toMatchObject({ credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret', scopes: 'repo,user' } });
  });

  it('updateIntegration renames it and keeps its connections', async () => {
    await githubIntegration();
    await importConnection('u1');
    const { data } = await nango.updateIntegration({ uniqueKey: 'github' }, { unique_key: 'github-renamed', display_name: 'Renamed' });
    expect(data).toMatchObject({ unique_key: 'github-renamed', display_name: 'Renamed' });
    expect((await nango.getConnection('github-renamed', 'u1')).connection_id).toBe('u1');
  });

  it('deleteIntegration removes it', async () => {
    await githubIntegration();
    await nango.deleteIntegration('github');
    await expect(nango.getIntegration({ uniqueKey: 'github' })).rejects.toMatchObject({ response: { status: 404 } });
  });

  it('refuses an unknown provider with the modern error body', async () => {
    const error = await nango.createIntegration({ provider: 'nope', unique_key: 'x' }).catch((caught: { response: { status: number; data: unknown } }) => caught);
    expect(error).toMatchObject({ response: { status: 400, data: { error: { code: 'unknown_provider_template', message: expect.any(String) } } } });
  });
});

describe('connections', () => {
  beforeEach(async () => githubIntegration());

  it('getConnection answers the modern shape and hides refresh tokens unless asked', async () => {
    await importConnection('u1');
    const connection = await nango.getConnection('github', 'u1');
    expect(connection).toMatchObject({ connection_id: 'u1', provider_config_key: 'github', provider: 'github', errors: [], end_user: null, credentials: { type: 'OAUTH2', access_token: 'token-u1' } });
    expect(JSON.stringify(connection)).not.toContain('refresh-u1');
    const withRefresh = await nango.getConnection('github', 'u1', false, true);
    expect(withRefresh.credentials).toMatchObject({ refresh_token: 'refresh-u1' });
  });

  it('getToken answers the access token and getRawTokenResponse the raw response', async () => {
    await importConnection('u1');
    expect(await nango.getToken('github', 'u1')).toBe('token-u1');
    expect(await nango.getRawTokenResponse('github', 'u1')).toEqual({ access_token: 'token-u1' });
  });

  it('listConnections filters by end user, integration and tags, and pages', async () => {
    await importConnection('u1', { end_user: { id: 'eu-1', email: 'a@example.com', organization: { id: 'org-1' } }, tags: { plan: 'pro' } });
    await importConnection('u2', { end_user: { id: 'eu-2' } });
    await importConnection('u3');
    expect((await nango.listConnections()).connections).toHaveLength(3);
    expect((await nango.listConnections(undefined, undefined, { endUserId: 'eu-1' })).connections.map((c) => c.connection_id)).toEqual(['u1']);
    expect((await nango.listConnections(undefined, undefined, { endUserOrganizationId: 'org-1' })).connections.map((c) => c.connection_id)).toEqual(['u1']);
    expect((await nango.listConnections({ tags: { plan: 'pro' } })).connections.map((c) => c.connection_id)).toEqual(['u1']);
    expect((await nango.listConnections({ integrationId: ['github', 'other'] })).connections).toHaveLength(3);
    expect((await nango.listConnections(undefined, undefined, { limit: 2, page: 1 })).connections).toHaveLength(1);
    expect((await nango.listConnections('u2')).connections.map((c) => c.connection_id)).toEqual(['u2']);
    expect((await nango.listConnections(undefined, 'a@example')).connections.map((c) => c.connection_id)).toEqual(['u1']);
  });

  it('setMetadata replaces, updateMetadata merges, getMetadata reads', async () => {
    await importConnection('u1');
    await nango.setMetadata('github', 'u1', { a: 1, b: 2 });
    await nango.updateMetadata('github', 'u1', { b: 3, c: 4 });
    expect(await nango.getMetadata('github', 'u1')).toEqual({ a: 1, b: 3, c: 4 });
    await nango.setMetadata('github', 'u1', { only: true });
    expect(await nango.getMetadata('github', 'u1')).toEqual({ only: true });
  });

  it('setMetadata on several connections is all or nothing', async () => {
    await importConnection('u1');
    await expect(nango.setMetadata('github', ['u1', 'missing'], { a: 1 })).rejects.toMatchObject({ response: { status: 404 } });
    expect(await nango.getMetadata('github', 'u1')).toEqual({});
  });

  it('patchConnection sets the end user and tags', async () => {
    await importConnection('u1');
    await nango.patchConnection({ connectionId: 'u1', provider_config_key: 'github' }, { end_user: { id: 'eu-9', display_name: 'Nine' }, tags: { team: 'core' } });
    const connection = await nango.getConnection('github', 'u1');
    expect(connection).toMatchObject({ end_user: { id: 'eu-9', display_name: 'Nine' }, tags: { team: 'core' } });
  });

  it('deleteConnection removes it; a second delete is a 404 unknown_connection', async () => {
    await importConnection('u1');
    await nango.deleteConnection('github', 'u1');
    const error = await nango.deleteConnection('github', 'u1').catch((caught: { response: { status: number; data: unknown } }) => caught);
    expect(error).toMatchObject({ response: { status: 404, data: { error: { code: 'unknown_connection' } } } });
  });
});

describe('connect sessions', () => {
  beforeEach(async () => githubIntegration());

  it('createConnectSession answers a token, a connect link and an expiry 30 minutes away', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1', email: 'a@example.com' }, allowed_integrations: ['github'] });
    expect(data.token).toMatch(/^nango_connect_session_[0-9a-f]{64}$/);
    expect(data.connect_link).toBe(`${test.config.publicConnectUrl}/?session_token=${data.token}`);
    const minutes = (new Date(data.expires_at).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(29);
    expect(minutes).toBeLessThanOrEqual(30);
  });

  it('stores only a hash of the session token', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1' } });
    const rows = await database.knex('_custody_connect_sessions');
    expect(JSON.stringify(rows)).not.toContain(data.token);
  });

  it('refuses an integration that does not exist', async () => {
    const error = await nango.createConnectSession({ end_user: { id: 'eu-1' }, allowed_integrations: ['nope'] }).catch((caught: { response: { status: number; data: unknown } }) => caught);
    expect(error).toMatchObject({ response: { status: 400, data: { error: { code: 'invalid_body' } } } });
  });

  it('the session token reads its session and the allowed integrations only', async () => {
    await githubIntegration('other');
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1' }, allowed_integrations: ['github'] });
    const session = await fetch(`${host}/connect/session`, { headers: { authorization: `Bearer ${data.token}` } });
    expect((await session.json()).data).toMatchObject({ allowed_integrations: ['github'], endUser: { id: 'eu-1' } });
    const integrations = await fetch(`${host}/integrations`, { headers: { authorization: `Bearer ${data.token}` } });
    expect((await integrations.json()).data.map((i: { unique_key: string }) => i.unique_key)).toEqual(['github']);
    const forbidden = await fetch(`${host}/connections`, { headers: { authorization: `Bearer ${data.token}` } });
    expect(forbidden.status).toBe(403);
  });

  it('a deleted session token stops working', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1' } });
    expect((await fetch(`${host}/connect/session`, { method: 'DELETE', headers: { authorization: `Bearer ${data.token}` } })).status).toBe(204);
    const after = await fetch(`${host}/connect/session`, { headers: { authorization: `Bearer ${data.token}` } });
    expect(after.status).toBe(401);
    expect((await after.json()).error.code).toBe('unknown_connect_session_token');
  });

  it('an expired session token is refused', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1' } });
    await database.knex('_custody_connect_sessions').update({ expires_at: new Date(Date.now() - 1000) });
    const response = await fetch(`${host}/connect/session`, { headers: { authorization: `Bearer ${data.token}` } });
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('expired_connect_session_token');
  });

  it('createReconnectSession targets an existing connection', async () => {
    await importConnection('u1');
    const { data } = await nango.createReconnectSession({ connection_id: 'u1', integration_id: 'github' });
    const session = await fetch(`${host}/connect/session`, { headers: { authorization: `Bearer ${data.token}` } });
    expect((await session.json()).data).toMatchObject({ isReconnecting: true, allowed_integrations: ['github'] });
  });

  it('refuses a non-popup route for an OAuth2 integration, naming its auth mode', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-7' }, tags: { source: 'test' } });
    const response = await fetch(`${host}/auth/unauthenticated/github?connect_session_token=${data.token}`, { method: 'POST' });
    // github is an OAuth2 provider: the unauthenticated route refuses it with a clear message.
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toContain('OAUTH2');
  });
});

describe('what this server does not implement', () => {
  it('answers 501 not_supported for sync routes', async () => {
    const response = await fetch(`${host}/sync/status?syncs=*`, { headers: { authorization: 'Bearer modern-secret' } });
    expect(response.status).toBe(501);
    expect((await response.json()).error.code).toBe('not_supported');
  });
});
