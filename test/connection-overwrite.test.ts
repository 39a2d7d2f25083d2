import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { securityNotices } from '../src/startup-notices.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { openPopupSocket } from './support/popup-socket.js';
import { startServerProcess } from './support/server-process.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * Issue 18, finding 4: with HMAC off, anyone could create a connection, or replace the credentials of an existing
 * one, by naming its connection id on a connect route, binding their own account to a victim's id. With
 * NANGO_PUBLIC_CONNECT=false every connect route refuses that (a 403 naming the setting, also on the popup's
 * WebSocket) and leaves the stored credentials as they were; connect sessions and a valid HMAC still work.
 */
const KEY = 'sk-public-connect-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const HMAC_KEY = 'hmac-key-public-connect-0123';

let database: TestDatabase;
let closed: TestApp;
let closedUrl: string;
let hmacGuarded: TestApp;
let tokenServer: http.Server;
let tokensIssued = 0;

function template(authMode: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { display_name: `Test ${authMode}`, categories: ['other'], auth_mode: authMode, docs: 'https://example.com/docs', proxy: { base_url: 'http://127.0.0.1:9' }, ...extra };
}

/** The victim's stored connections, per integration: credentials as stored, and when they last changed. */
const VICTIMS: Record<string, Record<string, unknown>> = {
  oauth: { type: 'OAUTH2', access_token: 'victim-oauth-token', refresh_token: 'victim-refresh', expires_at: '2099-01-01T00:00:00.000Z' },
  key: { type: 'API_KEY', apiKey: 'victim-api-key' },
  basic: { type: 'BASIC', username: 'victim', password: 'victim-password' },
  cc: { type: 'OAUTH2_CC', token: 'victim-cc-token', client_id: 'cc-client', client_secret: 'cc-secret', expires_at: '2099-01-01T00:00:00.000Z' },
  none: { type: 'NONE' },
};

beforeAll(async () => {
  // A token endpoint for the client credentials grant; an attacker's overwrite must never reach it.
  tokenServer = http.createServer((_req, res) => {
    tokensIssued++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `cc-token-${tokensIssued}`, expires_in: 3600 }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  const { catalog } = catalogWith({
    'oauth-test': template('OAUTH2', { authorization_url: 'http://127.0.0.1:9/authorize', token_url: 'http://127.0.0.1:9/token' }),
    'key-test': template('API_KEY', { credentials: { apiKey: { title: 'API key', secret: true } } }),
    'basic-test': template('BASIC'),
    'cc-test': template('OAUTH2_CC', { token_url: tokenUrl }),
    'none-test': template('NONE'),
  });
  database = await createTestDatabase();
  closed = await buildTestApp(database, { NANGO_SECRET_KEY: KEY, NANGO_PUBLIC_CONNECT: 'false' }, { providers: catalog });
  closedUrl = await listenOnLoopback(closed);
  hmacGuarded = await buildTestApp(database, { NANGO_SECRET_KEY: KEY, NANGO_PUBLIC_CONNECT: 'false', NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: HMAC_KEY }, { providers: catalog });
  for (const [key, provider] of [['oauth', 'oauth-test'], ['key', 'key-test'], ['basic', 'basic-test'], ['cc', 'cc-test'], ['none', 'none-test']] as const) {
    const credentials = key === 'oauth' || key === 'cc' ? { credentials: { type: 'OAUTH2', client_id: 'cc-client', client_secret: 'cc-secret' } } : {};
    expect((await closed.app.inject({ method: 'POST', url: '/integrations', headers: AUTH, payload: { unique_key: key, provider, ...credentials } })).statusCode).toBe(200);
    const imported = await closed.app.inject({ method: 'POST', url: '/connections', headers: AUTH, payload: { provider_config_key: key, connection_id: 'victim', credentials: VICTIMS[key] } });
    expect(imported.statusCode, imported.body).toBe(201);
  }
});

afterAll(async () => {
  await closed?.close();
  await hmacGuarded?.close();
  await database?.drop();
  tokenServer?.closeAllConnections();
  await new Promise<void>((resolve) => tokenServer?.close(() => resolve()));
});

async function storedConnections(): Promise<unknown[]> {
  return database.knex('_nango_connections').select('provider_config_key', 'connection_id', 'credentials', 'connection_config', 'updated_at').orderBy(['provider_config_key', 'connection_id']);
}

const OVERWRITES: [string, string, Record<string, unknown>][] = [
  ['/api-auth/api-key/key', 'victim', { apiKey: 'attacker-api-key' }],
  ['/api-auth/basic/basic', 'victim', { username: 'attacker', password: 'attacker-password' }],
  ['/oauth2/auth/cc', 'victim', { client_id: 'cc-client', client_secret: 'cc-secret' }],
  ['/auth/unauthenticated/none', 'victim', {}],
  ['/api-auth/api-key/key', 'a-new-connection', { apiKey: 'attacker-api-key' }],
];

describe('an attacker who names an existing connection id on a connect route, with NANGO_PUBLIC_CONNECT=false', () => {
  it('is refused 403 on every popup-less route, by the setting`s name, and nothing stored changes', async () => {
    const before = await storedConnections();
    const publicKey = (await database.knex('_nango_accounts').where({ id: 0 }).first()).public_key as string;
    for (const [path, connectionId, body] of OVERWRITES) {
      for (const extra of ['', `&public_key=${publicKey}`]) {
        const response = await closed.app.inject({ method: 'POST', url: `${path}?connection_id=${connectionId}${extra}`, payload: body });
        expect(response.statusCode, `${path} ${extra}`).toBe(403);
        expect(response.json()).toEqual({ error: { code: 'public_connect_disabled', message: expect.stringContaining('NANGO_PUBLIC_CONNECT=false') } });
      }
    }
    expect(await storedConnections()).toEqual(before);
    expect(tokensIssued).toBe(0);
  });

  it('is refused 403 on the OAuth popup, and the page that opened it hears why on its WebSocket', async () => {
    const before = await storedConnections();
    const socket = await openPopupSocket(closedUrl);
    try {
      const response = await fetch(`${closedUrl}/oauth/connect/oauth?connection_id=victim&ws_client_id=${socket.id}`, { redirect: 'manual' });
      expect(response.status).toBe(403);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('NANGO_PUBLIC_CONNECT=false');
      expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'public_connect_disabled', connection_id: 'victim', error_desc: expect.stringContaining('NANGO_PUBLIC_CONNECT=false') });
    } finally {
      socket.close();
    }
    expect(await storedConnections()).toEqual(before);
    expect(await database.knex('_nango_oauth_sessions').count<{ n: string }[]>({ n: '*' }).then((rows) => Number(rows[0]?.n))).toBe(0);
  });

  it('is refused with an HMAC digest that does not match, where HMAC guards the connect', async () => {
    const forged = createHmac('sha256', 'guessed-key').update('key:victim').digest('hex');
    const response = await hmacGuarded.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=victim&hmac=${forged}`, payload: { apiKey: 'attacker-api-key' } });
    expect(response.statusCode).toBe(401);
    expect(response.json().error.code).toBe('invalid_hmac');
  });
});

describe('the application that starts connections as it should', () => {
  async function session(body: Record<string, unknown>, path = '/connect/sessions'): Promise<string> {
    const response = await closed.app.inject({ method: 'POST', url: path, headers: AUTH, payload: body });
    expect(response.statusCode, response.body).toBe(201);
    return response.json().data.token as string;
  }

  it('creates a connection through a connect session, on the popup-less routes and the popup', async () => {
    const token = await session({ end_user: { id: 'new-user' }, allowed_integrations: ['key', 'oauth'] });
    const created = await closed.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connect_session_token=${token}`, payload: { apiKey: 'new-user-key' } });
    expect(created.statusCode, created.body).toBe(200);
    const popup = await closed.app.inject({ method: 'GET', url: `/oauth/connect/oauth?connect_session_token=${token}` });
    expect(popup.statusCode).toBe(302);
    expect(popup.headers['location']).toMatch(/^http:\/\/127\.0\.0\.1:9\/authorize\?/);
  });

  it('replaces an existing connection`s credentials only through a reconnect session the backend asked for', async () => {
    const token = await session({ connection_id: 'victim', integration_id: 'basic' }, '/connect/sessions/reconnect');
    const replaced = await closed.app.inject({ method: 'POST', url: `/api-auth/basic/basic?connect_session_token=${token}`, payload: { username: 'victim', password: 'rotated-password' } });
    expect(replaced.json()).toEqual({ providerConfigKey: 'basic', connectionId: 'victim' });
    const stored = await closed.app.inject({ method: 'GET', url: '/connections/victim?provider_config_key=basic', headers: AUTH });
    expect(stored.json().credentials).toEqual({ type: 'BASIC', username: 'victim', password: 'rotated-password' });
  });

  it('connects by connection id with a valid HMAC digest', async () => {
    const digest = createHmac('sha256', HMAC_KEY).update('key:hmac-user').digest('hex');
    const response = await hmacGuarded.app.inject({ method: 'POST', url: `/api-auth/api-key/key?connection_id=hmac-user&hmac=${digest}`, payload: { apiKey: 'hmac-user-key' } });
    expect(response.statusCode, response.body).toBe(200);
  });
});

describe('the start-up warning', () => {
  const notices = (env: Record<string, string>) => securityNotices(loadConfig(env)).map((notice) => notice.message).filter((message) => message.includes('NANGO_PUBLIC_CONNECT'));

  it('is one line when a secret key is set and public connects are allowed without HMAC, and absent otherwise', async () => {
    expect(notices({ NANGO_SECRET_KEY: KEY })).toHaveLength(1);
    expect(notices({ NANGO_SECRET_KEY: KEY, NANGO_PUBLIC_CONNECT: 'true' })).toHaveLength(1);
    expect(notices({ NANGO_SECRET_KEY: KEY, NANGO_PUBLIC_CONNECT: 'false' })).toEqual([]);
    expect(notices({ NANGO_SECRET_KEY: KEY, NANGO_HMAC_ENABLED: 'true', NANGO_HMAC_KEY: HMAC_KEY })).toEqual([]);
  });

  it('is written by the server at start', async () => {
    const server = await startServerProcess({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: KEY, SERVER_HOST: '127.0.0.1' });
    try {
      const lines = server.output().split('\n').filter((line) => line.includes('NANGO_PUBLIC_CONNECT is not false'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('Anyone who can reach this server can create a connection, or replace the credentials of an existing one, by naming its connection id');
      expect(lines[0]).toContain('Set NANGO_PUBLIC_CONNECT=false');
    } finally {
      await server.stop();
    }
  });

  it('refuses a value of NANGO_PUBLIC_CONNECT that is not a yes or a no', () => {
    expect(() => loadConfig({ NANGO_PUBLIC_CONNECT: 'sometimes' })).toThrow('NANGO_PUBLIC_CONNECT must be "true" or "false" (got "sometimes").');
  });
});
