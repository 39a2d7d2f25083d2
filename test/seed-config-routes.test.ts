import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

let database: TestDatabase;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database);
});

afterAll(async () => {
  await test.close();
  await database.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
});

const github = { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'client-1', oauth_client_secret: 'secret-1', oauth_scopes: 'repo user' };

async function createConfig(body: Record<string, unknown> = github) {
  return test.app.inject({ method: 'POST', url: '/config', payload: body });
}

describe('POST /config', () => {
  it('creates an integration and answers its id', async () => {
    const response = await createConfig();
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ config_id: expect.any(Number) });
  });

  it('stores scopes comma-joined whether they were sent with spaces or commas', async () => {
    await createConfig({ ...github, oauth_scopes: ' repo  user,, read:org ' });
    const response = await test.app.inject({ method: 'GET', url: '/config/github-prod' });
    expect(response.json().config.oauth_scopes).toBe('repo,user,read:org');
  });

  it('accepts scopes as a list', async () => {
    await createConfig({ ...github, oauth_scopes: ['repo', 'user'] });
    const response = await test.app.inject({ method: 'GET', url: '/config/github-prod' });
    expect(response.json().config.oauth_scopes).toBe('repo,user');
  });

  it('refuses a key that is already used', async () => {
    await createConfig();
    const response = await createConfig();
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'duplicate_provider_config', payload: {} });
  });

  it('refuses a provider that is not in the catalog', async () => {
    const response = await createConfig({ ...github, provider: 'not-a-provider' });
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('unknown_provider_template');
  });

  it.each([
    ['provider_config_key', 'missing_provider_config'],
    ['provider', 'missing_provider_template'],
    ['oauth_client_id', 'missing_client_id'],
    ['oauth_client_secret', 'missing_client_secret'],
    ['oauth_scopes', 'missing_scopes'],
  ])('names the missing field %s with the seed code %s', async (field, code) => {
    const body: Record<string, unknown> = { ...github };
    delete body[field];
    const response = await createConfig(body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringContaining(field), type: code, payload: {} });
  });

  it('checks fields in the seed order: the provider is looked up before the client id', async () => {
    const response = await createConfig({ provider_config_key: 'k', provider: 'nope' });
    expect(response.json().type).toBe('unknown_provider_template');
  });

  it('answers missing_body when there is no JSON object', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/config', payload: '[1,2]', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('missing_body');
  });

  it('answers invalid_json for a body that is not JSON', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/config', payload: '{"provider": ', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('invalid_json');
  });

  it('names a field of the wrong type', async () => {
    const response = await createConfig({ ...github, oauth_client_id: 42 });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_body', error: expect.stringContaining('oauth_client_id') });
  });

  it('refuses unknown fields instead of silently dropping them', async () => {
    const response = await createConfig({ ...github, oauth_scope: 'typo' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_body', error: expect.stringContaining('oauth_scope') });
  });

  it('writes nothing when the request is refused', async () => {
    await createConfig({ ...github, oauth_client_secret: '' });
    expect(await database.knex('_nango_configs').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('GET /config', () => {
  it('lists integrations as stored rows with the client secret in clear', async () => {
    await createConfig();
    const response = await test.app.inject({ method: 'GET', url: '/config' });
    expect(response.statusCode).toBe(200);
    expect(response.json().configs).toEqual([
      expect.objectContaining({
        unique_key: 'github-prod',
        provider: 'github',
        oauth_client_id: 'client-1',
        oauth_client_secret: 'secret-1',
        oauth_scopes: 'repo,user',
        account_id: 0,
        oauth_client_secret_iv: null,
        oauth_client_secret_tag: null,
      }),
    ]);
  });

  it('answers an empty list when there are none', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/config' });
    expect(response.json()).toEqual({ configs: [] });
  });

  it('refuses unknown query parameters', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/config?limit=5' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ type: 'invalid_query_params', error: expect.stringContaining('limit') });
  });
});

describe('GET /config/:key', () => {
  it('answers one integration under "config"', async () => {
    await createConfig();
    const response = await test.app.inject({ method: 'GET', url: '/config/github-prod' });
    expect(response.json().config).toMatchObject({ unique_key: 'github-prod', oauth_client_secret: 'secret-1' });
  });

  it('answers unknown_provider_config for a key that does not exist', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/config/nope' });
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('unknown_provider_config');
  });
});

describe('PUT /config', () => {
  it('replaces every field and stores the scopes as given', async () => {
    await createConfig();
    const response = await test.app.inject({
      method: 'PUT',
      url: '/config',
      payload: { ...github, oauth_client_id: 'client-2', oauth_client_secret: 'secret-2', oauth_scopes: 'repo user' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    const stored = (await test.app.inject({ method: 'GET', url: '/config/github-prod' })).json().config;
    expect(stored).toMatchObject({ oauth_client_id: 'client-2', oauth_client_secret: 'secret-2', oauth_scopes: 'repo user' });
  });

  it('answers unknown_provider_config when the integration does not exist', async () => {
    const response = await test.app.inject({ method: 'PUT', url: '/config', payload: github });
    expect(response.statusCode).toBe(400);
    expect(response.json().type).toBe('unknown_provider_config');
  });

  it('requires every field, as creation does', async () => {
    await createConfig();
    const response = await test.app.inject({ method: 'PUT', url: '/config', payload: { ...github, oauth_client_secret: undefined } });
    expect(response.json().type).toBe('missing_client_secret');
  });
});

describe('DELETE /config/:key', () => {
  it('deletes the integration and every connection made through it', async () => {
    await createConfig();
    await test.app.inject({
      method: 'POST',
      url: '/connection',
      payload: { connection_id: 'user-1', provider_config_key: 'github-prod', type: 'OAUTH2', access_token: 'token-1' },
    });
    const response = await test.app.inject({ method: 'DELETE', url: '/config/github-prod' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expect((await test.app.inject({ method: 'GET', url: '/config/github-prod' })).json().type).toBe('unknown_provider_config');
    expect((await test.app.inject({ method: 'GET', url: '/connection' })).json()).toEqual({ connections: [] });
  });

  it('answers 200 for a key that does not exist', async () => {
    const response = await test.app.inject({ method: 'DELETE', url: '/config/nope' });
    expect(response.statusCode).toBe(200);
  });

  it('accepts a JSON content type without a body, as axios sends on DELETE', async () => {
    const response = await test.app.inject({ method: 'DELETE', url: '/config/nope', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(200);
  });
});
