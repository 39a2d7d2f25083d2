import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * Token endpoints in every shape providers really answer with (and a few they should not), served by a local
 * HTTP server; the flow is started on our server and its callback called directly with a code.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
let database: TestDatabase;
let test: TestApp;
let tokenServer: http.Server;
let origin: string;
let answer: (res: http.ServerResponse, body: string, req: http.IncomingMessage) => void;
let lastBody = '';
let lastHeaders: http.IncomingHttpHeaders = {};

beforeAll(async () => {
  tokenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      lastBody = body;
      lastHeaders = req.headers;
      answer(res, body, req);
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}`;
  database = await createTestDatabase();
  const { catalog } = catalogWith({
    'shape-test': oidcTestProvider(origin),
    'json-header-test': oidcTestProvider(origin, { body_format: 'json', authorization_method: 'header', disable_pkce: true }),
    'metadata-test': oidcTestProvider(origin, { token_response_metadata: ['instance_url', 'team.id'] }),
    // QuickBooks-like: the company id comes back on the redirect, not in the token response.
    'redirect-metadata-test': oidcTestProvider(origin, { redirect_uri_metadata: ['realmId'] }),
    'refresh-params-test': oidcTestProvider(origin, { token_params: { audience: 'code-exchange' }, refresh_params: { audience: 'refresh', scope: 'offline' } }),
  });
  test = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 1_000 });
  for (const [key, provider] of [['shape', 'shape-test'], ['json', 'json-header-test'], ['meta', 'metadata-test'], ['realm', 'redirect-metadata-test'], ['refresh', 'refresh-params-test']]) {
    await test.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: key, provider, oauth_client_id: 'client id', oauth_client_secret: 'client:secret', oauth_scopes: 'read' },
    });
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  tokenServer.closeAllConnections();
  await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
});

beforeEach(() => {
  answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at-1', expires_in: 3600 }));
});

async function completeWithCode(key: string, connectionId: string, extraCallbackQuery = '') {
  const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/${key}?connection_id=${connectionId}` });
  const state = new URL(String(start.headers.location)).searchParams.get('state');
  return test.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=the-code${extraCallbackQuery}` });
}

async function forceRefresh(key: string, connectionId: string) {
  return test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=${key}&force_refresh=true` });
}

async function storedCredentials(key: string, connectionId: string) {
  return (await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=${key}` })).json();
}

describe('the code exchange request', () => {
  it('posts a form with the code, redirect URI, PKCE verifier and client credentials by default', async () => {
    await completeWithCode('shape', 'u-form');
    const sent = Object.fromEntries(new URLSearchParams(lastBody));
    expect(sent).toMatchObject({ grant_type: 'authorization_code', code: 'the-code', redirect_uri: CALLBACK, client_id: 'client id', client_secret: 'client:secret' });
    expect(sent['code_verifier']).toMatch(/^[0-9a-f]{48}$/);
  });

  it('sends JSON and HTTP Basic client authentication when the template says so', async () => {
    await completeWithCode('json', 'u-json');
    expect(lastHeaders['content-type']).toBe('application/json');
    expect(lastHeaders['authorization']).toBe(`Basic ${Buffer.from('client%20id:client%3Asecret').toString('base64')}`);
    const sent = JSON.parse(lastBody) as Record<string, string>;
    expect(sent).not.toHaveProperty('client_secret');
    expect(sent).not.toHaveProperty('code_verifier');
  });
});

describe('token responses', () => {
  it('reads a form-encoded token response', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }).end('access_token=form-token&token_type=bearer&expires_in=7200');
    expect((await completeWithCode('shape', 'u-1')).statusCode).toBe(200);
    expect((await storedCredentials('shape', 'u-1')).credentials).toMatchObject({ access_token: 'form-token', expires_at: expect.any(String) });
  });

  it('finds a token nested one level down', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, authed_user: { access_token: 'user-token', refresh_token: 'user-refresh' } }));
    expect((await completeWithCode('shape', 'u-2')).statusCode).toBe(200);
    expect((await storedCredentials('shape', 'u-2')).credentials).toMatchObject({ access_token: 'user-token', refresh_token: 'user-refresh' });
  });

  it('treats an HTTP 200 that carries an error as the error it is', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'invalid_code' }));
    const response = await completeWithCode('shape', 'u-3');
    expect(response.statusCode).toBe(502);
    expect(response.body).toContain('invalid_code');
    expect(await database.knex('_nango_connections').where({ connection_id: 'u-3' })).toEqual([]);
  });

  it('explains a provider that answers garbage', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    const response = await completeWithCode('shape', 'u-4');
    expect(response.statusCode).toBe(502);
    expect(response.body).toContain('not a token response');
  });

  it('gives up on a provider that does not answer, within the bounded time', async () => {
    answer = () => undefined;
    const started = Date.now();
    const response = await completeWithCode('shape', 'u-5');
    expect(response.statusCode).toBe(502);
    expect(response.body).toContain('did not answer');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('copies whitelisted fields of the token response into the connection', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 't', instance_url: 'https://acme.example.com', team: { id: 'T1' } }));
    await completeWithCode('meta', 'u-6');
    const connection = await storedCredentials('meta', 'u-6');
    expect(connection.connection_config).toEqual({ instance_url: 'https://acme.example.com', 'team.id': 'T1' });
    expect(connection.metadata).toEqual({ instance_url: 'https://acme.example.com', 'team.id': 'T1' });
  });
});

describe('the callback query', () => {
  it('copies the whitelisted redirect_uri_metadata fields of the callback into the connection, and nothing else', async () => {
    expect((await completeWithCode('realm', 'u-realm', '&realmId=9130355&unlisted=x')).statusCode).toBe(200);
    const connection = await storedCredentials('realm', 'u-realm');
    expect(connection.connection_config).toEqual({ realmId: '9130355' });
    expect(connection.metadata).toEqual({ realmId: '9130355' });
  });
});

describe('refreshing', () => {
  it('sends the template refresh_params on a refresh, instead of its token_params', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at-1', refresh_token: 'rt-1', expires_in: 3600 }));
    await completeWithCode('refresh', 'u-refresh');
    expect(Object.fromEntries(new URLSearchParams(lastBody))).toMatchObject({ grant_type: 'authorization_code', audience: 'code-exchange' });
    expect((await forceRefresh('refresh', 'u-refresh')).statusCode).toBe(200);
    expect(Object.fromEntries(new URLSearchParams(lastBody))).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'rt-1', audience: 'refresh', scope: 'offline' });
  });

  it('keeps the stored refresh token when the provider answers a refresh without one', async () => {
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at-first', refresh_token: 'rt-long-lived', expires_in: 3600 }));
    await completeWithCode('shape', 'u-keep');
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'at-second', expires_in: 3600 }));
    const refreshed = await forceRefresh('shape', 'u-keep');
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().credentials).toMatchObject({ access_token: 'at-second', refresh_token: 'rt-long-lived' });
    const row = await database.knex('_nango_connections').where({ connection_id: 'u-keep' }).first();
    expect(row.credentials).toMatchObject({ access_token: 'at-second', refresh_token: 'rt-long-lived' });
  });
});
