import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, openPage, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { focused, tabThrough, tabTo } from './support/keyboard.js';
import { startSdkPageServer, type SdkPageServer } from './support/sdk-page-server.js';
import type { TestApp } from './support/test-app.js';
import { apiKeyTestProvider, catalogWith } from './support/test-providers.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

const SECRET_KEY = 'sk-keyboard';

/**
 * The dashboard and the Connect UI with the keyboard alone, in headless Chromium: what automated audits cannot
 * tell. Focus follows the visual order and is always drawn, dialogs keep it inside until they close and then
 * give it back, and a whole task (create an integration, connect it) needs no mouse.
 */
describe.skipIf(!hasChromium)('the dashboard and the Connect UI with the keyboard alone', () => {
  let database: TestDatabase;
  let test: TestApp;
  let pages: SdkPageServer;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    const { catalog } = catalogWith({
      'key-test': apiKeyTestProvider({ connection_config: { region: { title: 'Region', optional: true, example: 'eu' } } }),
    });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: SECRET_KEY }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    const created = await fetch(`${serverUrl}/integrations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ unique_key: 'keyboard-key', provider: 'key-test' }),
    });
    expect(created.status).toBe(200);
    pages = await startSdkPageServer();
    // The browser's login prompt answered with the secret key as the password (any user name will do).
    browser = await launchBrowser({ httpCredentials: { username: 'admin', password: SECRET_KEY, origin: serverUrl } });
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await test?.close();
    await database?.drop();
  });

  /** The Connect UI frame openConnectUI put on the page. */
  async function connectFrame(page: Page): Promise<Frame> {
    await page.frameLocator('#connect-ui').locator('h1').waitFor();
    const frame = page.frames().find((each) => each.parentFrame() !== null && each.url().includes('/connect'));
    if (!frame) throw new Error('The Connect UI frame is not on the page.');
    return frame;
  }

  it('creates an integration and connects it through the Connect UI without a mouse', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations`);
    await page.getByRole('link', { name: 'Key Test', exact: true }).waitFor();
    await tabTo(page, 'New integration');
    await page.keyboard.press('Enter');
    await page.getByLabel('Search the provider catalog').waitFor();
    await tabTo(page, 'Search the provider catalog');
    await page.keyboard.type('key test');
    // The list narrows a moment after typing stops (a debounced catalog search), as a keyboard user sees it.
    await page.getByRole('button', { name: /^K?\s*Key Test/ }).waitFor();
    await tabTo(page, /^K?\s*Key Test/);
    await page.keyboard.press('Enter');
    await tabTo(page, 'Integration key');
    await page.keyboard.type('typed-key');
    await tabTo(page, 'Create integration');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${serverUrl}/dashboard/integrations/typed-key`);

    await page.getByRole('heading', { name: 'Key Test', level: 1 }).waitFor();
    await tabTo(page, 'Try it');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Try Key Test' }).getByLabel('API key', { exact: true }).waitFor();
    await tabTo(page, 'Open the Connect UI instead');
    await page.keyboard.press('Enter');

    // Focus is taken into the Connect UI over the dashboard, and stays there.
    const frame = await connectFrame(page);
    await frame.getByRole('heading', { name: 'Connect Key Test' }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('connect-ui');
    await checkState(page, 'try-it-connect-ui', { fullPage: false, frame: () => frame });
    await tabTo(page, 'API key', { frame });
    await page.keyboard.type('typed-with-keys');
    await tabTo(page, 'Connect Key Test', { frame });
    await page.keyboard.press('Enter');
    await frame.getByRole('heading', { name: 'Key Test is connected' }).waitFor();
    await page.waitForURL(/\/dashboard\/connections\/typed-key\/[0-9a-f-]{36}$/);
    await tabTo(page, 'Done', { frame });
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('connect-ui') === null);
    await page.getByRole('region', { name: 'Credentials' }).getByText('API_KEY').waitFor();
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('moves focus in the order the page reads, with a visible focus ring at every stop; Skip to content jumps to the page', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/keyboard-key`);
    await page.getByRole('heading', { name: 'Key Test', level: 1 }).waitFor();
    const stops = await tabThrough(page, 14);
    expect(stops.map((stop) => stop?.name)).toEqual([
      'Skip to content',
      'Custody',
      'Integrations',
      'Connections',
      'Audit log',
      'Settings',
      'Integrations',
      'Try it',
      'Delete',
      'docs',
      '0 connections',
      'Connect UI',
      'Copy the Connect UI snippet',
      'Connect UI snippet',
    ]);
    expect(stops.filter((stop) => !stop?.ringVisible)).toEqual([]);

    await page.reload();
    await page.getByRole('heading', { name: 'Key Test', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' }).isVisible()).resolves.toBe(true);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    await expect(focused(page)).resolves.toMatchObject({ name: 'Integrations', tag: 'a' });
    await expect(page.evaluate(() => document.activeElement?.closest('main') !== null)).resolves.toBe(true);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('switches the code snippets with the arrow keys', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/keyboard-key`);
    await tabTo(page, 'Connect UI');
    await page.keyboard.press('ArrowRight');
    await expect(focused(page)).resolves.toMatchObject({ name: 'auth()' });
    await expect(page.getByRole('tab', { name: 'auth()' }).getAttribute('aria-selected')).resolves.toBe('true');
    await page.keyboard.press('End');
    await expect(page.getByRole('tabpanel').textContent()).resolves.toMatch(/^# A connect session/);
    await page.keyboard.press('ArrowRight');
    await expect(focused(page)).resolves.toMatchObject({ name: 'Connect UI' });
    await page.close();
    expect(errors).toEqual([]);
  });

  it('keeps focus inside a dialog until it closes, then gives it back to the button that opened it', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/keyboard-key`);
    await page.getByRole('heading', { name: 'Key Test', level: 1 }).waitFor();
    await tabTo(page, 'Delete');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Delete keyboard-key?' }).waitFor();
    await expect(focused(page)).resolves.toMatchObject({ name: 'Cancel', inModal: true, ringVisible: true });
    for (const stop of [...(await tabThrough(page, 5)), ...(await tabThrough(page, 5, { back: true }))]) expect(stop).toMatchObject({ inModal: true, ringVisible: true });
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' }).catch(() => undefined);
    await expect(page.getByRole('dialog', { name: 'Delete keyboard-key?' }).isVisible()).resolves.toBe(false);
    await expect(focused(page)).resolves.toMatchObject({ name: 'Delete', inModal: false });

    // Try it: a form in the dialog, with an optional field, a secret field and its Show button.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Try Key Test' });
    await dialog.getByLabel('API key', { exact: true }).waitFor();
    await checkState(page, 'try-it-api-key');
    const names = (await tabThrough(page, 14)).map((stop) => (stop?.inModal ? stop.name : `outside: ${stop?.name ?? 'nothing'}`));
    expect(names.slice(0, 7)).toEqual(['Region (optional)', 'API key', 'Show API key', 'Connect with Key Test', 'Open the Connect UI instead', 'Cancel', 'Region (optional)']);
    expect(names.every((name) => !name.startsWith('outside'))).toBe(true);
    await page.keyboard.press('Escape');
    await expect(focused(page)).resolves.toMatchObject({ name: 'Try it' });
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('keeps focus inside the Connect UI over an operator’s page; Escape closes it', async () => {
    const response = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: 'keyboard-user' }, allowed_integrations: ['keyboard-key'] }),
    });
    const token = ((await response.json()) as { data: { token: string } }).data.token;
    pages.setPage(`<!doctype html><html lang="en"><head><title>Operator app</title></head><body>
<button id="open">Connect an account</button><a href="#elsewhere">Elsewhere</a>
<script type="module">
import Nango from '/sdk/071/index.js';
document.getElementById('open').addEventListener('click', () => {
  new Nango({ connectSessionToken: ${JSON.stringify(token)} }).openConnectUI({ baseURL: ${JSON.stringify(`${serverUrl}/connect`)}, apiURL: ${JSON.stringify(serverUrl)} });
});
</script></body></html>`);
    const page = await browser.context.newPage();
    await page.goto(pages.origin);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const frame = await connectFrame(page);
    await frame.getByRole('heading', { name: 'Connect Key Test' }).waitFor();
    // The SDK does not move focus into its iframe; a keyboard user Tabs into it, and then cannot Tab out.
    await tabTo(page, 'Close', { frame, limit: 4 });
    for (const stop of await tabThrough(page, 10, { frame })) expect(stop).toMatchObject({ inModal: true, ringVisible: true });
    for (const stop of await tabThrough(page, 10, { frame, back: true })) expect(stop).toMatchObject({ inModal: true, ringVisible: true });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.getElementById('connect-ui') === null);
    await page.close();
  });
});
