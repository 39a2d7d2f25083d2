import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { clientAuthRefusal, formContentTypeRefusal } from './support/token-request-rules.js';
import { catalogWith } from './support/test-providers.js';

/** Connections without a popup: API key, basic, client credentials, none (the routes @nangohq/frontend posts to). */
let database: TestDatabase;
let test: TestApp;
let tokenServer: http.Server;
let issued = 0;

function template(authMode: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { display_name: `Test ${authMode}`, categories: ['other'], auth_mode: authMode, docs: 'https://example.com/docs', proxy: { base_url: 'http://127.0.0.1:9' }, ...extra };
}

beforeAll(async () => {
  tokenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      // RFC 6749 §4.4: a form-encoded POST, the client authenticated as the template declares (body fields).
      const refusal = formContentTypeRefusal(req.headers['content-type']) ?? clientAuthRefusal(req.headers.authorization, form, 'body', { 'cc-client': 'cc-secret' });
      if (refusal) return void res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.headers }).end(JSON.stringify(refusal.body));
      if (form.get('grant_type') !== 'client_credentials') return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unsupported_grant_type' }));
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `cc-token-${issued}`, expires_in: 3600, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  database = await createTestDatabase();
  const { catalog } = catalogWith({
    'key-test': template('API_KEY', { credentials: { apiKey: { title: 'API key', secret: true } } }),
    'basic-test': template('BASIC'),
    'none-test': template('NONE'),
    'cc-test': template('OAUTH2_CC', { token_url: tokenUrl }),
  });
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: 'hk' }, { providers: catalog });
  for (const [key, provider] of [['key', 'key-test'], ['basic', 'basic-test'], ['none', 'none-test'], ['cc', 'cc-test']]) {
    const response = await test.app.inject({
      method: 'POST',
      url: '/integrations',
      headers: { authorization: 'Bearer sk' },
      payload: { unique_key: key, provider, ...(key === 'cc' ? { credentials: { type: 'OAUTH2', client_id: 'cc-client', client_secret: 'cc-secret' } } : {}) },
    });
    expect(response.statusCode).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  tokenServer.closeAllConnections();
  await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
});

const hmac = (key: string, connectionId: string) => createHmac('sha256', 'hk').update(`${key}:${connectionId}`).digest('hex');

async function credentialsOf(key: string, connectionId: string) {
  const response = await test.app.inject({ method: 'GET', url: `/connections/${connectionId}?provider_config_key=${key}`, headers: { authorization: 'Bearer sk' } });
  return response.json().credentials;
}

describe('API key', () => {
  it('stores the key the end user typed, behind the HMAC gate', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=k1&hmac=${hmac('key', 'k1')}`, payload: { apiKey: 'the-api-key' } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ providerConfigKey: 'key', connectionId: 'k1' });
    expect(await credentialsOf('key', 'k1')).toEqual({ type: 'API_KEY', apiKey: 'the-api-key' });
  });

  it('refuses a request without the HMAC digest', async () => {
    const response = await test.app.inject({ method: 'POST', url: '/api-auth/api-key/key?connection_id=k2', payload: { apiKey: 'x' } });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: { code: 'missing_hmac', message: expect.any(String) } });
  });

  it('refuses an empty key, naming the field', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=k3&hmac=${hmac('key', 'k3')}`, payload: { apiKey: '' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'invalid_body', message: expect.stringContaining('apiKey') });
  });

  it('accepts a connect session token instead of the HMAC and generates the connection id', async () => {
    const session = await test.app.inject({ method: 'POST', url: '/connect/sessions', headers: { authorization: 'Bearer sk' }, payload: { end_user: { id: 'eu-1' }, allowed_integrations: ['key'] } });
    const token = session.json().data.token as string;
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connect_session_token=${token}`, payload: { apiKey: 'session-key' } });
    expect(response.statusCode).toBe(200);
    expect(response.json().connectionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('records a connection made with a connect session token in the audit trail under that session, never its token', async () => {
    const session = await test.app.inject({ method: 'POST', url: '/connect/sessions', headers: { authorization: 'Bearer sk' }, payload: { end_user: { id: 'eu-audited' }, allowed_integrations: ['key'] } });
    const token = session.json().data.token as string;
    const created = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connect_session_token=${token}`, payload: { apiKey: 'audited-key' } });
    expect(created.statusCode).toBe(200);
    const { id: sessionId } = await database.knex('_custody_connect_sessions').whereRaw(`end_user->>'id' = ?`, ['eu-audited']).first('id');
    const trail = await test.app.inject({ method: 'GET', url: `/audit-log?connection_id=${created.json().connectionId}`, headers: { authorization: 'Bearer sk' } });
    expect(trail.json().data).toEqual([
      expect.objectContaining({ action: 'connection.create', principal: `connect_session:${sessionId}`, route: 'POST (API_KEY connect)', provider_config_key: 'key', details: { auth_mode: 'API_KEY' } }),
    ]);
    expect(trail.body).not.toContain(token);
    expect(trail.body).not.toContain('audited-key');
  });

  it('refuses a connection id together with a connect session token', async () => {
    const session = await test.app.inject({ method: 'POST', url: '/connect/sessions', headers: { authorization: 'Bearer sk' }, payload: { end_user: { id: 'eu-1' } } });
    const token = session.json().data.token as string;
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connect_session_token=${token}&connection_id=mine`, payload: { apiKey: 'x' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('invalid_query_params');
  });
});

describe('basic and none', () => {
  it('stores a user name and password', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/basic/basic?connection_id=b1&hmac=${hmac('basic', 'b1')}`, payload: { username: 'user', password: 'pass' } });
    expect(response.statusCode).toBe(200);
    expect(await credentialsOf('basic', 'b1')).toEqual({ type: 'BASIC', username: 'user', password: 'pass' });
  });

  it('creates an unauthenticated connection', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/auth/unauthenticated/none?connection_id=n1&hmac=${hmac('none', 'n1')}` });
    expect(response.statusCode).toBe(200);
    expect(await credentialsOf('none', 'n1')).toEqual({ type: 'NONE' });
  });
});

describe('OAuth2 client credentials', () => {
  it('fetches a token with the integration client and stores it', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/oauth2/auth/cc?connection_id=c1&hmac=${hmac('cc', 'c1')}`, payload: {} });
    expect(response.statusCode).toBe(200);
    expect(await credentialsOf('cc', 'c1')).toMatchObject({ type: 'OAUTH2_CC', token: expect.stringMatching(/^cc-token-/), client_id: 'cc-client', expires_at: expect.any(String) });
  });

  it('fetches a new token before the cached one expires', async () => {
    await test.app.inject({ method: 'POST', url: `/oauth2/auth/cc?connection_id=c2&hmac=${hmac('cc', 'c2')}`, payload: {} });
    const first = (await credentialsOf('cc', 'c2')).token;
    expect((await credentialsOf('cc', 'c2')).token).toBe(first);
    const row = await database.knex('_nango_connections').where({ connection_id: 'c2' }).first();
    row.credentials.expires_at = new Date(Date.now() + 60_000).toISOString();
    await database.knex('_nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(row.credentials) });
    expect((await credentialsOf('cc', 'c2')).token).not.toBe(first);
  });

  it('explains a refused client', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/oauth2/auth/cc?connection_id=c3&hmac=${hmac('cc', 'c3')}`, payload: { client_id: 'cc-client', client_secret: 'wrong' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'connection_test_failed', message: expect.stringContaining('invalid_client') });
  });
});

describe('mismatched routes', () => {
  it('refuses the API key route for a basic integration', async () => {
    const response = await test.app.inject({ method: 'POST', url: `/api-auth/api-key/basic?connection_id=x&hmac=${hmac('basic', 'x')}`, payload: { apiKey: 'k' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain('BASIC');
  });
});
