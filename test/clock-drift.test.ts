import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser, SCREENSHOTS } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { parsePrometheusText } from './support/prometheus-text.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { startTokenEndpoint, type TokenEndpoint } from './support/token-endpoint.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * The process clock against PostgreSQL's now() and the Date header of providers' token answers. The spec
 * moves the process clock (the app's `now`) rather than PostgreSQL's; a provider stand-in sends a Date header
 * two minutes behind.
 */
const KEY = 'sk-clock';
const auth = { authorization: `Bearer ${KEY}` };
const TWO_MINUTES = 120_000;

describe('clock drift', () => {
  let database: TestDatabase;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await database?.drop();
  });

  async function appWithClock(offsetMs: number, options: Parameters<typeof buildTestApp>[2] = {}): Promise<TestApp> {
    const app = await buildTestApp(database, { NANGO_SECRET_KEY: KEY }, { ...options, now: () => new Date(Date.now() + offsetMs) });
    apps.push(app);
    return app;
  }

  const clockLines = (app: TestApp) => app.logs.filter((line) => line.includes("This server's clock"));
  const warnings = async (app: TestApp, source: string) =>
    parsePrometheusText((await app.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body)
      .get('custody_clock_drift_warnings_total')
      ?.find((sample) => sample.labels['source'] === source)?.value;
  const settingsOf = async (app: TestApp) => (await app.app.inject({ method: 'GET', url: '/api/v1/settings', headers: { authorization: `Basic ${Buffer.from(`admin:${KEY}`).toString('base64')}` } })).json().settings;

  it('warns once at start, with the offset and the fix, when the process clock is two minutes ahead of PostgreSQL', async () => {
    const app = await appWithClock(TWO_MINUTES);
    const lines = clockLines(app);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string) as { level: number; msg: string; clockOffsetSeconds: number };
    expect(line.level).toBe(40);
    expect(line.msg).toMatch(/^This server's clock is 1(19\.\d|20(\.\d)?) s ahead of PostgreSQL's \(now\(\)\)\. More than 30 s breaks OAuth 1\.0a signatures and JWTs \(GitHub App tokens\) and makes token expiry times wrong\. Run an NTP client \(chrony, or systemd-timesyncd\) on this machine or the database server\.$/);
    expect(line.clockOffsetSeconds).toBeCloseTo(-120, 0);
    expect(await warnings(app, 'database')).toBe(1);
    expect(await settingsOf(app)).toMatchObject({ clock: { limitSeconds: 30, drifting: true, database: { peer: 'PostgreSQL', offsetSeconds: expect.closeTo(-120, 0) }, provider: null } });
  });

  it('says nothing and shows the clocks in step when they agree', async () => {
    const app = await appWithClock(0);
    expect(clockLines(app)).toEqual([]);
    expect(await warnings(app, 'database')).toBe(0);
    const { clock } = await settingsOf(app);
    expect(clock).toMatchObject({ drifting: false, database: { peer: 'PostgreSQL' } });
    expect(Math.abs(clock.database.offsetSeconds)).toBeLessThan(1);
  });

  describe("a provider's token answer", () => {
    let endpoint: TokenEndpoint;
    let app: TestApp;

    beforeAll(async () => {
      endpoint = await startTokenEndpoint();
      const { catalog } = catalogWith({ 'dated-provider': oidcTestProvider(endpoint.origin) });
      app = await appWithClock(0, { providers: catalog });
      const created = await app.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'dated', provider: 'dated-provider', oauth_client_id: endpoint.clientId, oauth_client_secret: endpoint.clientSecret, oauth_scopes: 'read' } });
      expect(created.statusCode).toBe(200);
      // Whatever is asked, a token, dated two minutes before this machine's clock.
      endpoint.override = (res) =>
        res.writeHead(200, { 'content-type': 'application/json', date: new Date(Date.now() - TWO_MINUTES).toUTCString() }).end(JSON.stringify({ access_token: `at-dated-${Date.now()}`, refresh_token: 'rt-dated', expires_in: 3600 }));
    });

    afterAll(async () => {
      await endpoint?.close();
    });

    it('warns once, naming the provider host and the offset, however many answers say so', async () => {
      const imported = await app.app.inject({
        method: 'POST',
        url: '/connection',
        headers: auth,
        payload: { connection_id: 'dated-user', provider_config_key: 'dated', type: 'OAUTH2', access_token: 'at-old', refresh_token: 'rt-dated', expires_at: '2000-01-01T00:00:00.000Z' },
      });
      expect(imported.statusCode).toBe(201);
      for (let refresh = 0; refresh < 2; refresh++) {
        const read = await app.app.inject({ method: 'GET', url: '/connection/dated-user?provider_config_key=dated&force_refresh=true', headers: auth });
        expect(read.statusCode).toBe(200);
      }
      expect(endpoint.requests).toBeGreaterThanOrEqual(2);
      const lines = clockLines(app).map((line) => (JSON.parse(line) as { msg: string }).msg);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^This server's clock is 1(19|20|21)(\\.\\d)? s ahead of the Date header of 127\\.0\\.0\\.1:${endpoint.port}'s token answer\\. .* Run an NTP client \\(chrony, or systemd-timesyncd\\) on this machine\\.$`));
      expect(await warnings(app, 'provider')).toBe(1);
      expect(await warnings(app, 'database')).toBe(0);
      expect((await settingsOf(app)).clock).toMatchObject({ drifting: true, provider: { peer: `127.0.0.1:${endpoint.port}`, offsetSeconds: expect.closeTo(-120, -1) } });
    });
  });

  it.skipIf(!hasChromium)("shows the warning on the dashboard's Settings page", async () => {
    ensureWebBuild();
    const app = await appWithClock(TWO_MINUTES);
    const port = await freePort();
    await app.app.listen({ port, host: '127.0.0.1' });
    const browser = await launchBrowser({ httpCredentials: { username: 'admin', password: KEY, origin: `http://127.0.0.1:${port}` } });
    try {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${port}/dashboard/settings`);
      const warning = page.getByRole('status').filter({ hasText: 'Off by' });
      await warning.waitFor();
      await expect(warning.textContent()).resolves.toMatch(/Off by 1(19|20)(\.\d)? s\. This server's clock is 1(19|20)(\.\d)? s ahead of PostgreSQL's\. .*run an NTP client \(chrony, or systemd-timesyncd\)/);
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'settings-clock-drift.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
