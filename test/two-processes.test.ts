import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPopupSocket, type PopupSocket } from './support/popup-socket.js';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { followUntil } from './support/redirect-walker.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/** Two server processes behind one (imaginary) load balancer, on one database. */
describe('two server processes on one database', () => {
  let database: TestDatabase;
  let provider: AuthorizationServer;
  let a: ServerProcess;
  let b: ServerProcess;
  const auth = { authorization: 'Bearer secret', 'content-type': 'application/json' };

  beforeAll(async () => {
    database = await createTestDatabase();
    const portB = await freePort();
    const callbackUrl = `http://127.0.0.1:${portB}/oauth/callback`;
    provider = await startAuthorizationServer({ redirectUris: [callbackUrl] });
    const { file } = catalogWith({ 'oidc-test': oidcTestProvider(provider.issuer) });
    const env = { NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: 'secret', NANGO_PROVIDERS_FILE: file, NANGO_CALLBACK_URL: callbackUrl };
    [a, b] = await Promise.all([startServerProcess(env), startServerProcess({ ...env, SERVER_PORT: String(portB) })]);
    const create = await fetch(`${a.baseUrl}/config`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ provider_config_key: 'oidc', provider: 'oidc-test', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'openid,offline_access' }),
    });
    expect(create.status).toBe(200);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await provider?.close();
    await database?.drop();
  });

  /** Opens the popup's WebSocket on a process and waits for its client id, as the SDK does. */
  const openSocket = (server: ServerProcess): Promise<PopupSocket> => openPopupSocket(server.baseUrl);

  it('delivers the result to the WebSocket on process A when the callback reaches process B', async () => {
    const socket = await openSocket(a);
    const start = await fetch(`${a.baseUrl}/oauth/connect/oidc?connection_id=cross-user&ws_client_id=${socket.id}`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const walked = await followUntil(String(start.headers.get('location')), `${b.baseUrl}/oauth/callback`);
    const callback = await fetch(walked.url);
    expect(callback.status).toBe(200);
    await expect(socket.next).resolves.toEqual({ message_type: 'success', provider_config_key: 'oidc', connection_id: 'cross-user', is_pending: false });
    socket.close();
  });

  it('refreshes an expired token exactly once for 50 concurrent readers spread over both processes', async () => {
    const socket = await openSocket(a);
    const start = await fetch(`${a.baseUrl}/oauth/connect/oidc?connection_id=busy-user&ws_client_id=${socket.id}`, { redirect: 'manual' });
    const walked = await followUntil(String(start.headers.get('location')), `${b.baseUrl}/oauth/callback`);
    await fetch(walked.url);
    await socket.next;
    socket.close();
    const row = await database.knex('_nango_connections').where({ connection_id: 'busy-user' }).first();
    row.credentials.expires_at = new Date(Date.now() - 60_000).toISOString();
    await database.knex('_nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(row.credentials) });

    const before = provider.refreshGrants();
    const reads = await Promise.all(
      Array.from({ length: 50 }, (_, index) => fetch(`${(index % 2 === 0 ? a : b).baseUrl}/connection/busy-user?provider_config_key=oidc`, { headers: auth })),
    );
    expect(reads.map((response) => response.status)).toEqual(Array(50).fill(200));
    const tokens = new Set(await Promise.all(reads.map(async (response) => ((await response.json()) as { credentials: { access_token: string } }).credentials.access_token)));
    expect(provider.refreshGrants()).toBe(before + 1);
    expect(tokens.size).toBe(1);
    expect(tokens.has(row.credentials.access_token)).toBe(false);
  });
});
