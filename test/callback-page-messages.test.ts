import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * The page the provider sends the popup back to, in headless Chromium: opened as a popup of a page (on the
 * server's origin, so BroadcastChannel reaches it) that records every window message and channel message.
 * Legacy clients (seed, no WebSocket) get `{eventType, data}`; modern ones `nango_oauth_callback_*` (§2.5).
 */
interface Recorded {
  via: 'postMessage' | 'BroadcastChannel';
  data: unknown;
}

interface RecorderWindow extends Window {
  recorded: Recorded[];
  channel: BroadcastChannel;
  popup: Window | null;
}

describe.skipIf(!hasChromium)('the callback page in a browser', () => {
  let database: TestDatabase;
  let test: TestApp;
  let browser: Browser;
  let tokenServer: http.Server;
  let serverUrl: string;
  let publicKey: string;
  const openPages: Page[] = [];

  beforeAll(async () => {
    tokenServer = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'page-token', expires_in: 3600 })));
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}`;
    database = await createTestDatabase();
    const { catalog } = catalogWith({ 'page-test': oidcTestProvider(origin) });
    test = await buildTestApp(database, {}, { providers: catalog });
    serverUrl = await listenOnLoopback(test);
    const created = await test.app.inject({
      method: 'POST',
      url: '/config',
      payload: { provider_config_key: 'pages', provider: 'page-test', oauth_client_id: 'client', oauth_client_secret: 'client-secret', oauth_scopes: 'read' },
    });
    expect(created.statusCode).toBe(200);
    publicKey = (await database.knex('_nango_accounts').where({ id: 0 }).first()).public_key;
    browser = await launchBrowser();
  });

  afterEach(async () => {
    for (const page of openPages.splice(0)) if (!page.isClosed()) await page.close();
  });

  afterAll(async () => {
    await browser?.close();
    await test?.close();
    await database?.drop();
    tokenServer?.closeAllConnections();
    await new Promise<void>((resolve) => (tokenServer ? tokenServer.close(() => resolve()) : resolve()));
  });

  /** A started flow's callback URL, as the provider would send the popup back (`query` adds code or error). */
  async function callbackUrl(connectQuery: string, query: string): Promise<string> {
    const start = await test.app.inject({ method: 'GET', url: `/oauth/connect/pages?${connectQuery}` });
    expect(start.statusCode).toBe(302);
    const state = new URL(String(start.headers.location)).searchParams.get('state');
    return `${serverUrl}/oauth/callback?state=${state}&${query}`;
  }

  /** Opens `url` as a popup of a recording page; returns both pages. */
  async function openAsPopup(url: string): Promise<{ opener: Page; popup: Page }> {
    const opener = await browser.context.newPage();
    openPages.push(opener);
    await opener.goto(`${serverUrl}/health`);
    await opener.evaluate(() => {
      const recorder = window as unknown as RecorderWindow;
      recorder.recorded = [];
      window.addEventListener('message', (event) => recorder.recorded.push({ via: 'postMessage', data: event.data }));
      // Kept on the window: a channel that is garbage-collected stops receiving.
      recorder.channel = new BroadcastChannel('nango-oauth-callback');
      recorder.channel.onmessage = (event) => recorder.recorded.push({ via: 'BroadcastChannel', data: event.data });
    });
    const popupOpened = opener.waitForEvent('popup');
    await opener.evaluate((target) => {
      (window as unknown as RecorderWindow).popup = window.open(target, '_blank', 'width=500,height=600');
    }, url);
    const popup = await popupOpened;
    openPages.push(popup);
    return { opener, popup };
  }

  async function recordedMessages(opener: Page, count: number): Promise<Recorded[]> {
    await opener.waitForFunction((n) => (window as unknown as RecorderWindow).recorded.length >= n, count, { timeout: 10_000 });
    return opener.evaluate(() => (window as unknown as RecorderWindow).recorded);
  }

  /** Resolves once the popup has closed itself (it may already have, before anyone waited). */
  async function closed(popup: Page): Promise<void> {
    if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 5_000 });
  }

  describe('a legacy client (seed, no WebSocket)', () => {
    it('posts AUTHORIZATION_SUCEEDED with the connection to the opener, then closes', async () => {
      const { opener, popup } = await openAsPopup(await callbackUrl('connection_id=legacy-ok', 'code=the-code'));
      expect(await recordedMessages(opener, 1)).toEqual([
        { via: 'postMessage', data: { eventType: 'AUTHORIZATION_SUCEEDED', data: { connectionId: 'legacy-ok', providerConfigKey: 'pages' } } },
      ]);
      await closed(popup);
    });

    it('posts AUTHORIZATION_FAILED with the error type and the provider words to the opener', async () => {
      const { opener } = await openAsPopup(await callbackUrl('connection_id=legacy-denied', 'error=access_denied&error_description=No+thanks'));
      expect(await recordedMessages(opener, 1)).toEqual([
        { via: 'postMessage', data: { eventType: 'AUTHORIZATION_FAILED', data: { error: { type: 'callback_err', message: expect.stringContaining('access_denied: No thanks') } } } },
      ]);
    });
  });

  describe('a modern client (public key and WebSocket)', () => {
    const modern = () => `connection_id=modern-user&public_key=${publicKey}&ws_client_id=${randomUUID()}`;

    it('posts nango_oauth_callback_success to the opener and on the BroadcastChannel, then closes', async () => {
      const { opener, popup } = await openAsPopup(await callbackUrl(modern(), 'code=the-code'));
      const messages = await recordedMessages(opener, 2);
      expect(messages).toEqual(
        expect.arrayContaining([
          { via: 'postMessage', data: { type: 'nango_oauth_callback_success' } },
          { via: 'BroadcastChannel', data: { type: 'nango_oauth_callback_success' } },
        ]),
      );
      await closed(popup);
    });

    it('posts nango_oauth_callback_error with the message and error type to the opener and on the BroadcastChannel', async () => {
      const { opener } = await openAsPopup(await callbackUrl(modern(), 'error=access_denied'));
      const error = { type: 'nango_oauth_callback_error', payload: { message: expect.stringContaining('access_denied'), errorType: 'callback_err' } };
      expect(await recordedMessages(opener, 2)).toEqual(expect.arrayContaining([{ via: 'postMessage', data: error }, { via: 'BroadcastChannel', data: error }]));
    });

    it('keeps an error page open to be read until the opener acknowledges it', async () => {
      const { opener, popup } = await openAsPopup(await callbackUrl(modern(), 'error=access_denied'));
      await recordedMessages(opener, 1);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(popup.isClosed()).toBe(false);
      await opener.evaluate(() => (window as unknown as RecorderWindow).popup?.postMessage({ type: 'nango_oauth_callback_ack' }, '*'));
      await closed(popup);
    });
  });

  it('posts an error for a state this server never issued, naming it unknown_state', async () => {
    const { opener } = await openAsPopup(`${serverUrl}/oauth/callback?state=6a1f0f0e-0000-4000-8000-000000000000&code=x`);
    const messages = await recordedMessages(opener, 2);
    expect(messages).toContainEqual({ via: 'postMessage', data: { type: 'nango_oauth_callback_error', payload: { message: expect.any(String), errorType: 'unknown_state' } } });
  });
});
