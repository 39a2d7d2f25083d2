import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState, type StateOptions } from './support/accessibility.js';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { startSdkPageServer, type SdkPageServer } from './support/sdk-page-server.js';
import type { TestApp } from './support/test-app.js';
import { apiKeyTestProvider, catalogWith, oidcTestProvider } from './support/test-providers.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/** The Connect UI inside openConnectUI's iframe: the operator's page around it is not ours to audit. */
const IN_FRAME: StateOptions = {
  fullPage: false,
  frame: (page) => {
    const frame = page.frames().find((each) => each.parentFrame() !== null && each.url().includes('/connect'));
    if (!frame) throw new Error('The Connect UI frame is not on the page.');
    return frame;
  },
};
const STANDALONE: StateOptions = { fullPage: false };

interface ConnectEvent {
  type: string;
  payload?: Record<string, unknown>;
}

/**
 * The end users' Connect UI in headless Chromium: inside the iframe that @nangohq/frontend 0.71.10's
 * openConnectUI opens on an operator's page (another origin), and standalone through a connect link.
 */
describe.skipIf(!hasChromium)('the Connect UI in a browser', () => {
  let database: TestDatabase;
  let provider: AuthorizationServer;
  let test: TestApp;
  let pages: SdkPageServer;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    provider = await startAuthorizationServer({ redirectUris: [`${serverUrl}/oauth/callback`] });
    const { catalog } = catalogWith({
      'oidc-test': oidcTestProvider(provider.issuer),
      'key-test': apiKeyTestProvider({ credentials: { apiKey: { title: 'API key', secret: true, description: 'Find it under Settings → API in your Key Test account.' } } }),
    });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    for (const body of [
      { unique_key: 'oidc', provider: 'oidc-test', credentials: { type: 'OAUTH2', client_id: provider.clientId, client_secret: provider.clientSecret, scopes: 'openid,offline_access' } },
      { unique_key: 'apikey', provider: 'key-test' },
    ]) {
      const response = await fetch(`${serverUrl}/integrations`, { method: 'POST', headers: { authorization: 'Bearer secret', 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status).toBe(200);
    }
    pages = await startSdkPageServer();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  async function session(allowed: string[], endUser = { id: 'end-user-1', display_name: 'Grace' }): Promise<{ token: string; connect_link: string }> {
    const response = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: endUser, allowed_integrations: allowed }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { data: { token: string; connect_link: string } }).data;
  }

  async function credentialsOf(key: string, connectionId: string): Promise<{ credentials: Record<string, unknown>; end_user: { id: string } | null }> {
    const response = await fetch(`${serverUrl}/connections/${connectionId}?provider_config_key=${key}`, { headers: { authorization: 'Bearer secret' } });
    return (await response.json()) as { credentials: Record<string, unknown>; end_user: { id: string } | null };
  }

  /** An operator's page on another origin that opens the Connect UI with the real SDK and prints the events it receives. */
  async function operatorPage(token: string): Promise<{ page: Page; errors: string[]; events: () => Promise<ConnectEvent[]> }> {
    pages.setPage(`<!doctype html><html><head><title>Operator app</title></head><body style="font-family:sans-serif">
<h1>Acme CRM</h1><button id="open">Connect an account</button><pre id="events">[]</pre>
<script type="module">
import * as sdk from '/sdk/071/index.js';
const Nango = sdk.default ?? sdk.Nango;
const events = [];
document.getElementById('open').addEventListener('click', () => {
  const nango = new Nango({ connectSessionToken: ${JSON.stringify(token)} });
  nango.openConnectUI({
    baseURL: ${JSON.stringify(`${serverUrl}/connect`)},
    apiURL: ${JSON.stringify(serverUrl)},
    detectClosedAuthWindow: true,
    onEvent: (event) => { events.push(event); document.getElementById('events').textContent = JSON.stringify(events); },
  });
});
</script></body></html>`);
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1100, height: 800 });
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pages.origin);
    return { page, errors, events: async () => JSON.parse((await page.textContent('#events')) ?? '[]') as ConnectEvent[] };
  }

  it('works inside openConnectUI: lists the allowed integrations, runs the consent popup, posts ready/connect/close', async () => {
    const { token } = await session(['oidc', 'apikey']);
    const { page, errors, events } = await operatorPage(token);
    await page.click('#open');
    const frame = page.frameLocator('#connect-ui');
    await frame.getByRole('heading', { name: 'Connect an account' }).waitFor();
    await frame.getByText('Grace, choose the service to connect.').waitFor();
    const options = frame.getByRole('list', { name: 'Integrations' }).getByRole('button');
    await expect(options.allTextContents()).resolves.toEqual(['Local OIDC test provider', 'Key Test']);
    await checkState(page, 'connect-iframe-pick', IN_FRAME);

    await frame.getByRole('button', { name: 'Local OIDC test provider' }).click();
    await frame.getByRole('heading', { name: 'Connect Local OIDC test provider' }).waitFor();
    await checkState(page, 'connect-iframe-oauth', IN_FRAME);
    const popupOpened = page.context().waitForEvent('page');
    await frame.getByRole('button', { name: 'Connect Local OIDC test provider' }).click();
    const popup = await popupOpened;
    await popup.waitForEvent('close', { timeout: 20_000 });
    await frame.getByRole('heading', { name: 'Local OIDC test provider is connected' }).waitFor({ timeout: 20_000 });
    await checkState(page, 'connect-iframe-success', IN_FRAME);

    const received = await events();
    expect(received.map((event) => event.type)).toEqual(['ready', 'connect']);
    const connected = received[1]?.payload as { providerConfigKey: string; connectionId: string };
    expect(connected).toMatchObject({ providerConfigKey: 'oidc', connectionId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const stored = await credentialsOf('oidc', connected.connectionId);
    expect(stored.credentials).toMatchObject({ type: 'OAUTH2', access_token: expect.any(String) });
    expect(stored.end_user).toMatchObject({ id: 'end-user-1' });

    await frame.getByRole('button', { name: 'Done' }).click();
    await page.waitForFunction(() => document.getElementById('connect-ui') === null);
    expect((await events()).map((event) => event.type)).toEqual(['ready', 'connect', 'close']);
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('reports a declined consent inside openConnectUI as an error event and says what to do; Escape closes', async () => {
    const { token } = await session(['oidc']);
    provider.denyNext();
    await browser.context.clearCookies();
    const { page, errors, events } = await operatorPage(token);
    await page.click('#open');
    const frame = page.frameLocator('#connect-ui');
    // One allowed integration: straight to its form.
    await frame.getByRole('heading', { name: 'Connect Local OIDC test provider' }).waitFor();
    const popupOpened = page.context().waitForEvent('page');
    await frame.getByRole('button', { name: 'Connect Local OIDC test provider' }).click();
    const popup = await popupOpened;
    await frame.getByText('Access was not granted.').waitFor({ timeout: 20_000 });
    await expect(frame.getByRole('alert').textContent()).resolves.toContain('try again and approve the access it asks for');
    await checkState(page, 'connect-iframe-declined', IN_FRAME);
    const error = (await events()).find((event) => event.type === 'error');
    expect(error?.payload).toMatchObject({ errorType: 'callback_err', errorMessage: expect.stringContaining('access_denied') });
    if (!popup.isClosed()) await popup.close();

    await frame.getByRole('button', { name: 'Connect Local OIDC test provider' }).focus();
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.getElementById('connect-ui') === null);
    expect((await events()).at(-1)?.type).toBe('close');
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('works standalone through a connect link: renders the API key field, checks it, stores the key', async () => {
    const { connect_link } = await session(['apikey'], { id: 'end-user-2', display_name: 'Linus' });
    expect(connect_link).toBe(`${serverUrl}/connect/?session_token=${new URL(connect_link).searchParams.get('session_token')}`);
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1000, height: 760 });
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(connect_link);
    await page.getByRole('heading', { name: 'Connect Key Test' }).waitFor();
    // The token leaves the address bar (history, screenshots, shoulder surfers).
    expect(page.url()).toBe(`${serverUrl}/connect/`);
    await page.getByRole('button', { name: 'Connect Key Test' }).click();
    await page.getByText('API key is required.').waitFor();
    await expect(page.getByLabel('API key', { exact: true }).getAttribute('aria-invalid')).resolves.toBe('true');
    await checkState(page, 'connect-link-form', STANDALONE);
    await page.getByLabel('API key', { exact: true }).fill('sk_live_123456');
    await page.getByRole('button', { name: 'Connect Key Test' }).click();
    await page.getByRole('heading', { name: 'Key Test is connected' }).waitFor();
    await page.getByText('You can close this tab and go back to the application.').waitFor();
    await checkState(page, 'connect-link-success', STANDALONE);

    const list = await fetch(`${serverUrl}/connections?endUserId=end-user-2`, { headers: { authorization: 'Bearer secret' } }).then((response) => response.json());
    const connectionId = (list as { connections: { connection_id: string }[] }).connections[0]?.connection_id ?? '';
    expect((await credentialsOf('apikey', connectionId)).credentials).toEqual({ type: 'API_KEY', apiKey: 'sk_live_123456' });

    await page.setViewportSize({ width: 390, height: 760 });
    await page.goto((await session(['apikey', 'oidc'])).connect_link);
    await page.getByRole('button', { name: 'Key Test' }).click();
    await page.getByLabel('API key', { exact: true }).waitFor();
    await checkState(page, 'connect-link-picked', STANDALONE);
    // Back to the list from the form, with the keyboard.
    await page.getByRole('button', { name: 'Back to the list of integrations' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('list', { name: 'Integrations' }).waitFor();
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('says what to do when the link is expired or missing', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1000, height: 760 });
    await page.goto(`${serverUrl}/connect/?session_token=nango_connect_session_${'0'.repeat(64)}`);
    await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
    await page.getByText('Go back to the application and start connecting again').waitFor();
    await checkState(page, 'connect-link-expired', STANDALONE);

    await page.goto(`${serverUrl}/connect`);
    await page.getByRole('heading', { name: 'This page needs a connect link' }).waitFor();
    await checkState(page, 'connect-link-missing', STANDALONE);
    await page.close();
  }, 60_000);
});
