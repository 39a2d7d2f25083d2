import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServer, type RunningServer } from './support/server-run.js';
import { createTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { startUpstream, type SeenRequest, type UpstreamServer } from './support/upstream-server.js';

/**
 * SIGTERM (what `docker stop` and an orchestrator send) lets the requests already under way finish with their
 * whole answer, then the server exits with code 0; it takes no new work meanwhile.
 */
describe('SIGTERM while a proxied request is under way', () => {
  let database: TestDatabase;
  let upstream: UpstreamServer;
  let server: RunningServer | undefined;
  const auth = { authorization: 'Bearer sk-graceful', 'content-type': 'application/json' };
  const body = 'x'.repeat(256 * 1024);

  beforeAll(async () => {
    database = await createTestDatabase();
    upstream = await startUpstream();
    const { file } = catalogWith({ 'slow-api': oidcTestProvider(upstream.origin) });
    // No readiness grace: the spec checks that the port closes at once (test/rolling-restart.test.ts covers the grace).
    server = await startServer({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: 'sk-graceful', NANGO_PROVIDERS_FILE: file, TELEMETRY: 'false', NANGO_SHUTDOWN_GRACE_SECONDS: '0' });
    const config = { provider_config_key: 'slow', provider: 'slow-api', oauth_client_id: 'cid', oauth_client_secret: 'csecret-graceful', oauth_scopes: 'read' };
    expect((await fetch(`${server.baseUrl}/config`, { method: 'POST', headers: auth, body: JSON.stringify(config) })).status).toBe(200);
    const connection = { connection_id: 'user-1', provider_config_key: 'slow', type: 'OAUTH2', access_token: 'at-graceful-0123456789', expires_at: '2099-01-01T00:00:00.000Z' };
    expect((await fetch(`${server.baseUrl}/connection`, { method: 'POST', headers: auth, body: JSON.stringify(connection) })).status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await upstream?.close();
    await database?.drop();
  });

  it('answers the request in full, then exits with code 0', async () => {
    const running = server as RunningServer;
    let arrived: () => void = () => undefined;
    const upstreamReached = new Promise<void>((resolve) => (arrived = resolve));
    upstream.answer = (_request: SeenRequest, res) => {
      arrived();
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(body), 1_500);
    };

    const proxied = fetch(`${running.baseUrl}/proxy/slow-report`, { headers: { ...auth, 'connection-id': 'user-1', 'provider-config-key': 'slow' } });
    await upstreamReached;
    const stopped = running.stop('SIGTERM');
    await waitFor(() => running.output().includes('SIGTERM received'));
    // New work is refused while draining: the port is closed, or a kept-alive connection gets a 503.
    const late = await fetch(`${running.baseUrl}/health`, { signal: AbortSignal.timeout(3_000) }).then(
      (answer) => answer.status,
      (error: Error) => (error.name === 'TimeoutError' ? 'hung' : 'refused'),
    );
    expect([503, 'refused']).toContain(late);

    const response = await proxied;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(body);
    expect(await stopped).toBe(0);
    expect(running.output()).toMatch(/SIGTERM received: finishing in-flight requests/);
    expect(running.output()).toMatch(/Stopped cleanly/);
    server = undefined;
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('The condition did not come true in time.');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A proxy in front opens a connection and sends its request a moment later; if the stop comes in between,
 * the request must still be answered. A stop that closes the app at once answers it 503 instead, which nginx
 * cannot pass to another replica for a POST.
 */
describe('SIGTERM between a connection being accepted and its request arriving', () => {
  let database: TestDatabase;
  let server: RunningServer | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startServer({ NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: 'sk-graceful', TELEMETRY: 'false', NANGO_SHUTDOWN_GRACE_SECONDS: '0' });
    const config = { provider_config_key: 'accepted', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret-accepted', oauth_scopes: 'repo' };
    expect((await fetch(`${server.baseUrl}/config`, { method: 'POST', headers: { authorization: 'Bearer sk-graceful', 'content-type': 'application/json' }, body: JSON.stringify(config) })).status).toBe(200);
  });

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await database?.drop();
  });

  it('answers the request (a POST that writes) and closes the connection after it, then exits with code 0', async () => {
    const running = server as RunningServer;
    const socket = net.connect({ host: '127.0.0.1', port: running.port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 100));

    const stopped = running.stop('SIGTERM');
    await waitFor(() => running.output().includes('SIGTERM received'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const body = JSON.stringify({ connection_id: 'late-arrival', provider_config_key: 'accepted', type: 'OAUTH2', access_token: 'at-late-0123456789' });
    socket.write(`POST /connection HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-graceful\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await ended;

    expect(received).toMatch(/^HTTP\/1\.1 201 /);
    expect(received).toMatch(/\r\nconnection: close\r\n/i);
    expect(await stopped).toBe(0);
    server = undefined;
    const row = await database.knex('_nango_connections').where({ connection_id: 'late-arrival' }).first();
    expect(row?.provider_config_key).toBe('accepted');
  });
});

/**
 * The database going away while the server drains (its host fails during a rolling upgrade): a request that
 * needs it gets a 503 that says so, what was stored stays stored, and the process still exits on its own
 * before Docker's kill (10 s), with one line when it had to give up on the database.
 */
describe('SIGTERM while the database goes away', () => {
  let database: TestDatabase;
  let proxy: TcpProxy | undefined;
  let server: RunningServer | undefined;
  const auth = { authorization: 'Bearer sk-graceful', 'content-type': 'application/json' };

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await server?.stop('SIGKILL');
    await proxy?.stop();
  });

  afterAll(async () => {
    await database?.drop();
  });

  /** A server on the test database through a TCP proxy, with a grace during which it still serves, and one stored connection. */
  async function serverBehindProxy(key: string): Promise<RunningServer> {
    proxy = await createTcpProxy({ host: String(database.connection.host), port: Number(database.connection.port) });
    const { user, password, database: name } = database.connection;
    const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@127.0.0.1:${proxy.port}/${String(name)}`;
    server = await startServer({ NANGO_DATABASE_URL: url, NANGO_SECRET_KEY: 'sk-graceful', TELEMETRY: 'false', NANGO_SHUTDOWN_GRACE_SECONDS: '2', NANGO_DB_STATEMENT_TIMEOUT_MS: '1000' });
    const config = { provider_config_key: key, provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret-vanishing', oauth_scopes: 'repo' };
    expect((await fetch(`${server.baseUrl}/config`, { method: 'POST', headers: auth, body: JSON.stringify(config) })).status).toBe(200);
    const connection = { connection_id: 'kept', provider_config_key: key, type: 'OAUTH2', access_token: 'at-kept-0123456789', expires_at: '2099-01-01T00:00:00.000Z' };
    expect((await fetch(`${server.baseUrl}/connection`, { method: 'POST', headers: auth, body: JSON.stringify(connection) })).status).toBe(201);
    return server;
  }

  /** SIGTERM, then `takeAway` the database while the grace lets requests in; one read then. */
  async function stopAndLoseDatabase(running: RunningServer, key: string, takeAway: () => Promise<void> | void) {
    const signalledAt = Date.now();
    const stopped = running.stop('SIGTERM');
    await waitFor(() => running.output().includes('SIGTERM received'));
    await takeAway();
    const answer = await fetch(`${running.baseUrl}/connection/kept?provider_config_key=${key}`, { headers: auth, signal: AbortSignal.timeout(9_000) });
    const read = { status: answer.status, body: (await answer.json()) as { type?: string; error?: string } };
    const code = await stopped;
    server = undefined;
    return { read, code, stoppedInMs: Date.now() - signalledAt };
  }

  it('answers 503 database_unavailable to a request that needs the database, keeps what was stored, and exits in time', async () => {
    const running = await serverBehindProxy('vanishing');
    const { read, code, stoppedInMs } = await stopAndLoseDatabase(running, 'vanishing', () => (proxy as TcpProxy).stop());
    expect(read.status).toBe(503);
    expect(read.body.type).toBe('database_unavailable');
    expect(stoppedInMs).toBeLessThan(10_000);
    expect(code).toBe(0);
    expect(running.output()).toMatch(/Stopped cleanly/);
    const row = await database.knex('_nango_connections').where({ connection_id: 'kept' }).first();
    expect(row?.provider_config_key).toBe('vanishing');
  }, 60_000);

  it('gives up on a database that stopped answering with one line naming it, and exits before the kill', async () => {
    const running = await serverBehindProxy('frozen');
    const { read, code, stoppedInMs } = await stopAndLoseDatabase(running, 'frozen', () => (proxy as TcpProxy).freeze());
    expect(read.status).toBe(503);
    expect(read.body.type).toBe('database_unavailable');
    expect(stoppedInMs).toBeLessThan(10_000);
    const lines = running.output().split('\n').filter((line) => line.includes('Stopping did not finish'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Stopping did not finish within 8\.5 s \(still closing the database; a database that stopped answering does this\); exiting now with code 1\./);
    expect(code).toBe(1);
  }, 60_000);
});
