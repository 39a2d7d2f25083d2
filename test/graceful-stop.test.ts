import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServer, type RunningServer } from './support/server-run.js';
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
