import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openPopupSocket, type PopupSocket } from './support/popup-socket.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { noteSecrets } from './support/secret-watch.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { clientAuthRefusal, formContentTypeRefusal } from './support/token-request-rules.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * What `GET /oauth/connect` accepts from the frontend SDKs, and how it refuses: every refusal reaches the
 * popup's WebSocket as well as the page, so `auth()` never waits forever. The provider is a local token
 * endpoint that records what it receives.
 */
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';
const OPERATOR_APP = { id: 'operator-app', secret: 'operator-app-secret' };
const END_USER_APP = { id: 'end-user-app', secret: 'end-user-app-secret-value' };

let database: TestDatabase;
let test: TestApp;
let serverUrl: string;
let tokenServer: http.Server;
let tokenRequests: { body: URLSearchParams }[] = [];
const sockets: PopupSocket[] = [];

beforeAll(async () => {
  noteSecrets('end user OAuth app', [END_USER_APP.secret]);
  tokenServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      tokenRequests.push({ body: new URLSearchParams(body) });
      // RFC 6749 §4.1.3: a form-encoded POST from a registered client (the operator's app or the end user's own).
      const refusal = formContentTypeRefusal(req.headers['content-type']) ?? clientAuthRefusal(req.headers.authorization, new URLSearchParams(body), 'body', { [OPERATOR_APP.id]: OPERATOR_APP.secret, [END_USER_APP.id]: END_USER_APP.secret });
      if (refusal) return void res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.headers }).end(JSON.stringify(refusal.body));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `at-${tokenRequests.length}`, refresh_token: 'rt-1', expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}`;
  database = await createTestDatabase();
  const { catalog } = catalogWith({
    'comma-provider': oidcTestProvider(origin, { scope_separator: ',', authorization_params: { access_type: 'offline', prompt: 'consent' } }),
    'oauth1-provider': {
      display_name: 'Local OAuth1 provider',
      categories: ['other'],
      auth_mode: 'OAUTH1',
      request_url: `${origin}/request_token`,
      authorization_url: `${origin}/authorize`,
      token_url: `${origin}/access_token`,
      proxy: { base_url: origin },
      docs: 'https://example.com/docs',
    },
  });
  test = await buildTestApp(database, { NANGO_CALLBACK_URL: CALLBACK }, { providers: catalog, providerTimeoutMs: 2_000 });
  serverUrl = await listenOnLoopback(test);
  for (const [key, provider] of [['app', 'comma-provider'], ['legacy', 'oauth1-provider']] as const) {
    const created = await test.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: key, provider, oauth_client_id: OPERATOR_APP.id, oauth_client_secret: OPERATOR_APP.secret, oauth_scopes: 'read,write' },
    });
    expect(created.statusCode).toBe(200);
  }
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
  tokenServer?.closeAllConnections();
  await new Promise<void>((resolve) => (tokenServer ? tokenServer.close(() => resolve()) : resolve()));
});

beforeEach(() => {
  tokenRequests = [];
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

async function openSocket(): Promise<PopupSocket> {
  const socket = await openPopupSocket(serverUrl);
  sockets.push(socket);
  return socket;
}

async function connect(query: string) {
  return test.app.inject({ method: 'GET', url: `/oauth/connect/${query}` });
}

async function connectSession(defaults: Record<string, unknown> = {}): Promise<string> {
  const response = await test.app.inject({ method: 'POST', url: '/connect/sessions', payload: { end_user: { id: 'end-user-1' }, integrations_config_defaults: defaults } });
  expect(response.statusCode).toBe(201);
  return (response.json() as { data: { token: string } }).data.token;
}

function overrideQuery(app = END_USER_APP): string {
  return `credentials[oauth_client_id_override]=${encodeURIComponent(app.id)}&credentials[oauth_client_secret_override]=${encodeURIComponent(app.secret)}`;
}

describe('a connect request too malformed to start', () => {
  it('tells the waiting WebSocket about an unknown query parameter, as well as the page', async () => {
    const socket = await openSocket();
    const page = await connect(`app?connection_id=u1&ws_client_id=${socket.id}&bogus=1`);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('bogus');
    expect(await socket.next).toEqual({
      message_type: 'error',
      provider_config_key: 'app',
      connection_id: 'u1',
      error_type: 'invalid_query_params',
      error_desc: expect.stringContaining('Unknown query parameter "bogus"'),
    });
  });

  it('tells the waiting WebSocket about a parameter given twice', async () => {
    const socket = await openSocket();
    await connect(`app?connection_id=u1&connection_id=u2&ws_client_id=${socket.id}`);
    expect(await socket.next).toMatchObject({ message_type: 'error', connection_id: '', error_type: 'invalid_query_params', error_desc: expect.stringContaining('connection_id: must be given once') });
  });

  it('tells the waiting WebSocket about a value that is too long', async () => {
    const socket = await openSocket();
    await connect(`app?connection_id=u1&hmac=${'a'.repeat(2001)}&ws_client_id=${socket.id}`);
    expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'invalid_query_params', error_desc: expect.stringContaining('hmac: must be at most 2000 characters') });
  });

  it('tells the waiting WebSocket even when ws_client_id itself is repeated', async () => {
    const socket = await openSocket();
    await connect(`app?connection_id=u1&ws_client_id=${socket.id}&ws_client_id=${socket.id}`);
    expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'invalid_query_params', error_desc: expect.stringContaining('ws_client_id: must be given once') });
  });

  it('tells the waiting WebSocket about an integration key that is too long', async () => {
    const socket = await openSocket();
    await connect(`${'k'.repeat(256)}?connection_id=u1&ws_client_id=${socket.id}`);
    expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'invalid_uri_params', error_desc: expect.stringContaining('at most 255 characters') });
  });
});

describe('scopes and authorization parameters', () => {
  it('joins the integration scopes with the template scope separator', async () => {
    const location = new URL(String((await connect('app?connection_id=u1')).headers.location));
    expect(location.searchParams.get('scope')).toBe('read,write');
  });

  it('adds the template authorization_params to the authorize URL, and the request own ones win', async () => {
    const location = new URL(String((await connect('app?connection_id=u1&authorization_params[prompt]=select_account')).headers.location));
    expect(location.searchParams.get('access_type')).toBe('offline');
    expect(location.searchParams.get('prompt')).toBe('select_account');
  });

  it('asks for user_scope separately from the app scopes (Slack user tokens)', async () => {
    const location = new URL(String((await connect('app?connection_id=u1&user_scope=chat:write,users:read')).headers.location));
    expect(location.searchParams.get('scope')).toBe('read,write');
    expect(location.searchParams.get('user_scope')).toBe('chat:write,users:read');
  });

  it('takes user scopes from the connect session defaults too', async () => {
    const token = await connectSession({ app: { user_scopes: 'search:read' } });
    const location = new URL(String((await connect(`app?connect_session_token=${token}&user_scope=chat:write`)).headers.location));
    expect(location.searchParams.get('user_scope')).toBe('search:read,chat:write');
  });
});

describe("an end user's own OAuth app (credentials[oauth_client_*_override])", () => {
  it('is refused without a connect session, on the page and on the WebSocket', async () => {
    const socket = await openSocket();
    const page = await connect(`app?connection_id=u1&ws_client_id=${socket.id}&${overrideQuery()}`);
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('allow_oauth_client_override');
    expect(await socket.next).toMatchObject({ message_type: 'error', error_type: 'client_override_not_allowed' });
  });

  it('is refused with a connect session that does not allow it for the integration', async () => {
    const token = await connectSession({ legacy: { connection_config: { allow_oauth_client_override: true } } });
    const page = await connect(`app?connect_session_token=${token}&${overrideQuery()}`);
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('client_override_not_allowed');
  });

  it('is refused for an OAuth 1.0a integration', async () => {
    const token = await connectSession({ legacy: { connection_config: { allow_oauth_client_override: true } } });
    const page = await connect(`legacy?connect_session_token=${token}&${overrideQuery()}`);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('OAuth 2 integrations only');
  });

  it('refuses a client id without its secret', async () => {
    const page = await connect(`app?connection_id=u1&credentials[oauth_client_id_override]=${END_USER_APP.id}`);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('go together');
  });

  it('refuses a refresh token override: the provider issues the refresh token', async () => {
    const page = await connect(`app?connection_id=u1&${overrideQuery()}&credentials[oauth_refresh_token_override]=rt-x`);
    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('credentials[oauth_refresh_token_override] is not supported');
  });

  describe('with a connect session that allows it', () => {
    let token: string;
    beforeEach(async () => {
      token = await connectSession({ app: { connection_config: { allow_oauth_client_override: true } } });
    });

    /** Starts and calls back a flow with the end user's app; returns the connection id the server chose. */
    async function connectWithOwnApp(): Promise<string> {
      const start = await connect(`app?connect_session_token=${token}&${overrideQuery()}`);
      expect(start.statusCode).toBe(302);
      const state = new URL(String(start.headers.location)).searchParams.get('state');
      const { connection_id: connectionId } = await database.knex('_nango_oauth_sessions').where({ id: state }).first('connection_id');
      const callback = await test.app.inject({ method: 'GET', url: `/oauth/callback?state=${state}&code=the-code` });
      expect(callback.statusCode).toBe(200);
      return String(connectionId);
    }

    it("sends the end user's client id to the provider's authorize URL", async () => {
      const start = await connect(`app?connect_session_token=${token}&${overrideQuery()}`);
      expect(new URL(String(start.headers.location)).searchParams.get('client_id')).toBe(END_USER_APP.id);
    });

    it("exchanges the code with the end user's client id and secret", async () => {
      await connectWithOwnApp();
      expect(Object.fromEntries(tokenRequests[0]?.body ?? [])).toMatchObject({ grant_type: 'authorization_code', client_id: END_USER_APP.id, client_secret: END_USER_APP.secret });
    });

    it("refreshes the connection with the end user's app", async () => {
      const connectionId = await connectWithOwnApp();
      const read = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=app&force_refresh=true` });
      expect(read.statusCode).toBe(200);
      expect(Object.fromEntries(tokenRequests[1]?.body ?? [])).toMatchObject({ grant_type: 'refresh_token', client_id: END_USER_APP.id, client_secret: END_USER_APP.secret });
    });

    it('keeps the permission flag out of the connection configuration', async () => {
      const connectionId = await connectWithOwnApp();
      const read = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=app` });
      expect(read.json().connection_config).not.toHaveProperty('allow_oauth_client_override');
    });
  });
});
