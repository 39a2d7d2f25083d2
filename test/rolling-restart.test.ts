import net from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startDnsServer, type DnsServer } from './support/dns-server.js';
import { freePort } from './support/free-port.js';
import { establishedTo } from './support/loopback-sockets.js';
import { NGINX_BINARY, startNginx, type Nginx } from './support/nginx.js';
import { openPopupSocket } from './support/popup-socket.js';
import { followUntil } from './support/redirect-walker.js';
import { startSdkPageServer, type SdkPageServer } from './support/sdk-page-server.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { ensureWebBuild } from './support/web-build.js';
import { pacedReads } from './support/paced-reads.js';

/**
 * A rolling restart as docs/self-hosting.md describes it, on real parts: two server processes behind Debian's
 * nginx with the shipped nginx.conf, which finds the replicas by name (a DNS server of the spec answers the
 * name "server" with one loopback address per process, as a compose network does), one PostgreSQL, oidc-provider
 * as the provider. Each process gets SIGTERM in turn and is started again while reads keep coming.
 */
const REPLICAS = ['127.0.0.2', '127.0.0.3'] as const;
const SCALED = '127.0.0.4';
const GRACE_SECONDS = 1;
const auth = { authorization: 'Bearer sk-rolling', 'content-type': 'application/json' };

describe.skipIf(!NGINX_BINARY)('a rolling restart behind nginx', () => {
  let database: TestDatabase;
  let dns: DnsServer;
  let nginx: Nginx;
  let provider: AuthorizationServer;
  let port: number;
  let env: Record<string, string>;
  const processes = new Map<string, ServerProcess>();

  beforeAll(async () => {
    database = await createTestDatabase();
    dns = await startDnsServer({ server: [...REPLICAS] });
    port = await portFreeOn([...REPLICAS, SCALED]);
    nginx = await startNginx({ name: 'server', port, dnsPort: dns.port });
    provider = await startAuthorizationServer({ redirectUris: [`${nginx.baseUrl}/oauth/callback`] });
    const { file } = catalogWith({ 'oidc-test': oidcTestProvider(provider.issuer) });
    env = {
      NANGO_DATABASE_URL: database.url,
      NANGO_SECRET_KEY: 'sk-rolling',
      NANGO_PROVIDERS_FILE: file,
      NANGO_SERVER_URL: nginx.baseUrl,
      NANGO_TRUST_PROXY: '1',
      NANGO_PUBLIC_CONNECT: 'true',
      SERVER_PORT: String(port),
      NANGO_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
      TELEMETRY: 'false',
    };
    await Promise.all(REPLICAS.map(async (address) => processes.set(address, await startServerProcess({ ...env, SERVER_HOST: address }))));
    const integration = { provider_config_key: 'oidc', provider: 'oidc-test', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'openid,offline_access' };
    expect((await fetch(`${nginx.baseUrl}/config`, { method: 'POST', headers: auth, body: JSON.stringify(integration) })).status).toBe(200);
    const connection = { connection_id: 'reader', provider_config_key: 'oidc', type: 'OAUTH2', access_token: 'at-rolling-0123456789', expires_at: '2099-01-01T00:00:00.000Z' };
    expect((await fetch(`${nginx.baseUrl}/connection`, { method: 'POST', headers: auth, body: JSON.stringify(connection) })).status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...processes.values()].map((server) => server.stop('SIGKILL')));
    await nginx?.stop();
    await provider?.close();
    await dns?.close();
    await database?.drop();
  });

  /** SIGTERM to one process, then the same process started again; what the stop looked like from outside. */
  async function restart(
    address: string,
    beforeStart: () => Promise<void> = async () => undefined,
  ): Promise<{ code: number | null; stopMs: number; readyWhileStopping: { status: number; type: unknown } }> {
    const running = processes.get(address) as ServerProcess;
    const started = Date.now();
    const stopped = running.stop('SIGTERM');
    await until(() => running.output().includes('SIGTERM received'));
    const ready = await fetch(`http://${address}:${port}/ready`);
    const readyWhileStopping = { status: ready.status, type: ((await ready.json()) as { type?: unknown }).type };
    const code = await stopped;
    const stopMs = Date.now() - started;
    await beforeStart();
    processes.set(address, await startServerProcess({ ...env, SERVER_HOST: address }));
    return { code, stopMs, readyWhileStopping };
  }

  /** The process nginx opened a popup's WebSocket to: the one with a lasting connection from nginx. */
  async function socketHolder(): Promise<string> {
    let holder: string | undefined;
    await until(() => {
      const holding = REPLICAS.filter((address) => establishedTo(address, port) > 0);
      holder = holding.length === 1 ? holding[0] : undefined;
      return holder !== undefined;
    });
    return holder as string;
  }

  it('answers every paced read while each process is stopped and started again in turn, and each stop takes a few seconds', async () => {
    const reads = pacedReads([`${nginx.baseUrl}/connection/reader?provider_config_key=oidc`], auth, 20);
    await sleep(500);
    const restarts = [];
    for (const address of REPLICAS) {
      restarts.push(await restart(address));
      await sleep(500);
    }
    const outcome = await reads.stop();

    expect(outcome.failures).toEqual([]);
    expect(outcome.answered).toBeGreaterThan(150);
    for (const { code, stopMs, readyWhileStopping } of restarts) {
      expect(readyWhileStopping).toEqual({ status: 503, type: 'server_stopping' });
      expect(code).toBe(0);
      // The grace, then nothing left to wait for: well within Docker's 10 s.
      expect(stopMs).toBeLessThan(GRACE_SECONDS * 1000 + 3_000);
    }
    // Both restarted processes took reads again.
    for (const address of REPLICAS) expect(processes.get(address)?.output()).toMatch(/"url":"\/connection\/reader\?provider_config_key=oidc","status":200/);
  }, 90_000);

  it('delivers an OAuth result over the popup socket of a stopping process when the provider calls back meanwhile', async () => {
    const socket = await openPopupSocket(nginx.baseUrl);
    const holder = await socketHolder();
    const signIn = provider.holdNextSignIn();
    const start = await fetch(`${nginx.baseUrl}/oauth/connect/oidc?connection_id=during-drain&ws_client_id=${socket.id}`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const walking = followUntil(String(start.headers.get('location')), `${nginx.baseUrl}/oauth/callback`);
    await signIn.reached;

    const restarted = restart(holder, async () => undefined);
    // The holder has stopped listening (its grace is over) but keeps the popup socket open for a while.
    await until(async () => !(await accepts(holder, port)));
    signIn.release();
    const callback = await fetch((await walking).url);
    expect(callback.status).toBe(200);
    await expect(socket.next).resolves.toEqual({ message_type: 'success', provider_config_key: 'oidc', connection_id: 'during-drain', is_pending: false });
    expect((await restarted).code).toBe(0);
  }, 60_000);

  it('finishes an OAuth flow whose popup socket a restart closed: the socket gets 1012, the callback page carries the result', async () => {
    const socket = await openPopupSocket(nginx.baseUrl);
    const holder = await socketHolder();
    const signIn = provider.holdNextSignIn();
    const start = await fetch(`${nginx.baseUrl}/oauth/connect/oidc?connection_id=after-restart&ws_client_id=${socket.id}`, { redirect: 'manual' });
    const walking = followUntil(String(start.headers.get('location')), `${nginx.baseUrl}/oauth/callback`);
    await signIn.reached;

    const { code, stopMs } = await restart(holder);
    expect(code).toBe(0);
    // The grace and the few seconds a popup socket is kept open for a late result: still well within Docker's 10 s.
    expect(stopMs).toBeLessThan(GRACE_SECONDS * 1000 + 5_000);
    expect(await socket.closed).toEqual({ code: 1012, reason: expect.stringContaining('restarting') });

    signIn.release();
    const callback = await fetch((await walking).url);
    const page = await callback.text();
    expect(callback.status).toBe(200);
    expect(page).toContain('custody_oauth_result');
    expect(page).toContain('"connectionId":"after-restart"');
    const stored = await fetch(`${nginx.baseUrl}/connection/after-restart?provider_config_key=oidc`, { headers: auth });
    expect(stored.status).toBe(200);
    expect(((await stored.json()) as { credentials: { access_token?: string } }).credentials.access_token).toEqual(expect.any(String));
  }, 60_000);

  it('sends traffic to a replica added while nginx runs, without reloading nginx', async () => {
    const added = await startServerProcess({ ...env, SERVER_HOST: SCALED });
    processes.set(SCALED, added);
    dns.set('server', [...REPLICAS, SCALED]);
    await until(async () => {
      await fetch(`${nginx.baseUrl}/connection/reader?provider_config_key=oidc`, { headers: auth });
      return /"url":"\/connection\/reader/.test(added.output());
    }, 15_000);
    dns.set('server', [...REPLICAS]);
    await sleep(2_500);
    const stopped = await added.stop('SIGTERM');
    processes.delete(SCALED);
    expect(stopped).toBe(0);
  }, 60_000);

  describe.skipIf(!hasChromium)('in a browser, with the real @nangohq/frontend 0.71.10', () => {
    let pages: SdkPageServer;
    let browser: Browser;

    beforeAll(async () => {
      ensureWebBuild();
      pages = await startSdkPageServer();
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await pages?.close();
    });

    it('tells the Connect UI on the operator page about a connection whose popup socket a restart closed', async () => {
      const session = await fetch(`${nginx.baseUrl}/connect/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ end_user: { id: 'end-user-rolling' }, allowed_integrations: ['oidc'] }) });
      expect(session.status).toBe(201);
      const { token } = ((await session.json()) as { data: { token: string } }).data;
      const { page, events, errors } = await operatorPage(pages, browser, nginx.baseUrl, token);
      await page.click('#open');
      const frame = page.frameLocator('#connect-ui');
      await frame.getByRole('heading', { name: 'Connect Local OIDC test provider' }).waitFor();
      const signIn = provider.holdNextSignIn();
      const popupOpened = page.context().waitForEvent('page');
      await frame.getByRole('button', { name: 'Connect Local OIDC test provider' }).click();
      const popup = await popupOpened;
      await signIn.reached;

      const { code } = await restart(await socketHolder());
      expect(code).toBe(0);
      signIn.release();

      await frame.getByRole('heading', { name: 'Local OIDC test provider is connected' }).waitFor({ timeout: 20_000 });
      const received = await events();
      expect(received.map((event) => event.type)).toEqual(['ready', 'connect']);
      const connected = received[1]?.payload as { providerConfigKey: string; connectionId: string };
      expect(connected.providerConfigKey).toBe('oidc');
      const stored = await fetch(`${nginx.baseUrl}/connections/${connected.connectionId}?provider_config_key=oidc`, { headers: auth });
      expect(stored.status).toBe(200);
      if (!popup.isClosed()) await popup.close();
      await page.close();
      expect(errors).toEqual([]);
    }, 90_000);
  });
});

interface ConnectEvent {
  type: string;
  payload?: Record<string, unknown>;
}

/** An operator's page on another origin that opens the Connect UI through nginx with the real SDK. */
async function operatorPage(pages: SdkPageServer, browser: Browser, serverUrl: string, token: string): Promise<{ page: Page; errors: string[]; events: () => Promise<ConnectEvent[]> }> {
  pages.setPage(`<!doctype html><html><head><title>Operator app</title></head><body>
<button id="open">Connect an account</button><pre id="events">[]</pre>
<script type="module">
import * as sdk from '/sdk/071/index.js';
const Nango = sdk.default ?? sdk.Nango;
const events = [];
document.getElementById('open').addEventListener('click', () => {
  new Nango({ connectSessionToken: ${JSON.stringify(token)} }).openConnectUI({
    baseURL: ${JSON.stringify(`${serverUrl}/connect`)},
    apiURL: ${JSON.stringify(serverUrl)},
    detectClosedAuthWindow: true,
    onEvent: (event) => { events.push(event); document.getElementById('events').textContent = JSON.stringify(events); },
  });
});
</script></body></html>`);
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(pages.origin);
  return { page, errors, events: async () => JSON.parse((await page.textContent('#events')) ?? '[]') as ConnectEvent[] };
}

/** A port free on every one of these loopback addresses (the replicas listen on the same port, as containers do). */
async function portFreeOn(addresses: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = await freePort();
    const bound: net.Server[] = [];
    try {
      for (const address of addresses) {
        const server = net.createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(candidate, address, () => resolve());
        });
        bound.push(server);
      }
      return candidate;
    } catch {
      // taken on one of them: try another
    } finally {
      await Promise.all(bound.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    }
  }
  throw new Error(`No port is free on all of ${addresses.join(', ')}.`);
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('The condition did not come true in time.');
    await sleep(25);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
