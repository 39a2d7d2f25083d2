import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, openPage, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import type { TestApp } from './support/test-app.js';
import { apiKeyTestProvider, catalogWith, oidcTestProvider } from './support/test-providers.js';
import { buildWebTestApp, dashboardAuth } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * The operator dashboard in headless Chromium against the real server: every page, the whole operator
 * flow (create an integration, "Try it" through the provider's consent popup, the connection, its
 * refresh and deletion), and the dashboard sign-in.
 */
describe.skipIf(!hasChromium)('the operator dashboard in a browser', () => {
  let database: TestDatabase;
  let provider: AuthorizationServer;
  /** A server with a secret key and no dashboard login of its own: the browser signs in with the key. */
  let test: TestApp;
  let locked: TestApp;
  /** A server without a secret key: its dashboard is open, as on a developer's machine. */
  let open: TestApp;
  let openUrl: string;
  let browser: Browser;
  let serverUrl: string;
  let lockedUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    provider = await startAuthorizationServer({ redirectUris: [`${serverUrl}/oauth/callback`] });
    const { catalog } = catalogWith({
      'oidc-test': oidcTestProvider(provider.issuer, { default_scopes: ['openid', 'offline_access'] }),
      'key-test': apiKeyTestProvider(),
    });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    const lockedPort = await freePort();
    lockedUrl = `http://127.0.0.1:${lockedPort}`;
    locked = await buildWebTestApp(database, { NANGO_SERVER_URL: lockedUrl, NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'pw' }, { providers: catalog });
    await locked.app.listen({ port: lockedPort, host: '127.0.0.1' });
    const openPort = await freePort();
    openUrl = `http://127.0.0.1:${openPort}`;
    open = await buildWebTestApp(database, { NANGO_SERVER_URL: openUrl }, { providers: catalog });
    await open.app.listen({ port: openPort, host: '127.0.0.1' });
    // The browser's login prompt answered with the secret key as the password (any user name will do).
    browser = await launchBrowser({ httpCredentials: { username: 'admin', password: 'secret', origin: serverUrl } });
  });

  afterAll(async () => {
    await browser?.close();
    await locked?.close();
    await open?.close();
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  it('loads every page without console errors, with designed empty states', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/`);
    await page.waitForURL(`${serverUrl}/dashboard/integrations`);
    await page.getByRole('heading', { name: 'No integrations yet' }).waitFor();
    await checkState(page, 'integrations-empty');
    // Only a server without a secret key has an open dashboard, and says so.
    const { page: openDashboard, errors: openErrors } = await openPage(browser, `${openUrl}/`);
    await openDashboard.waitForURL(`${openUrl}/dashboard/integrations`);
    await openDashboard.getByRole('heading', { name: 'No integrations yet' }).waitFor();
    await expect(openDashboard.getByText('This dashboard is open.').isVisible()).resolves.toBe(true);
    await checkState(openDashboard, 'integrations-empty-open-dashboard');
    await openDashboard.close();
    expect(openErrors).toEqual([]);

    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('heading', { name: 'No connections yet' }).waitFor();
    await checkState(page, 'connections-empty');

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.getByText('Not set: no webhook is sent').waitFor();
    await expect(page.getByRole('definition').filter({ hasText: 'Nothing is sent until NANGO_TELEMETRY_ENDPOINT is set.' }).textContent()).resolves.toMatch(/^On/);
    // The database variables this server reads (the test database is given as NANGO_DATABASE_URL), never a password.
    const databaseSettings = page.getByRole('group', { name: 'Database settings in use' });
    await expect(databaseSettings.getByRole('term').allTextContents()).resolves.toEqual(['NANGO_DATABASE_URL', 'NANGO_DB_SSL', 'NANGO_DB_POOL_MIN', 'NANGO_DB_POOL_MAX']);
    const databaseUrl = new URL(database.url);
    await expect(databaseSettings.textContent()).resolves.toContain(`${databaseUrl.hostname}:${databaseUrl.port}${databaseUrl.pathname} as ${databaseUrl.username}`);
    if (databaseUrl.password) await expect(page.content()).resolves.not.toContain(databaseUrl.password);
    await expect(page.getByText(`${serverUrl}/oauth/callback`).first().isVisible()).resolves.toBe(true);
    // The secret key is masked until revealed.
    await expect(page.getByText('secret', { exact: true }).count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Reveal secret key' }).click();
    await page.getByText('secret', { exact: true }).waitFor();
    await checkState(page, 'settings');

    await page.goto(`${serverUrl}/dashboard/no-such-page`);
    await page.getByRole('heading', { name: 'This page does not exist' }).waitFor();
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('runs the operator flow: create an integration, Try it through the consent popup, inspect, refresh and delete the connection', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations`);
    await page.getByRole('link', { name: 'Create an integration' }).click();
    await page.getByLabel('Search the provider catalog').fill('oidc');
    await page.getByRole('button', { name: /Local OIDC test provider/ }).click();
    await page.getByRole('heading', { name: /Configure Local OIDC test provider/ }).waitFor();
    // The exact callback URL to register, with a copy button.
    await expect(page.getByLabel('callback URL', { exact: true }).textContent()).resolves.toBe(`${serverUrl}/oauth/callback`);
    await expect(page.getByRole('button', { name: 'Copy callback URL' }).isVisible()).resolves.toBe(true);
    await page.getByLabel('Integration key').fill('oidc-demo');
    await page.getByRole('button', { name: 'Create integration' }).click();
    // Client id and secret are required for an OAuth provider: said next to the field.
    await page.getByText('Paste the client ID of your Local OIDC test provider OAuth app.').waitFor();
    await page.getByLabel('Client ID').fill(provider.clientId);
    await page.getByLabel('Client secret', { exact: true }).fill(provider.clientSecret);
    await expect(page.getByLabel('Scopes').inputValue()).resolves.toBe('openid,offline_access');
    await checkState(page, 'integration-new');
    await page.getByRole('button', { name: 'Create integration' }).click();

    await page.waitForURL(`${serverUrl}/dashboard/integrations/oidc-demo`);
    await page.getByRole('heading', { name: 'Local OIDC test provider', level: 1 }).waitFor();
    await page.getByText('Integration oidc-demo created.').waitFor();
    await checkState(page, 'integration-detail');

    await page.getByRole('button', { name: 'Try it' }).click();
    const connectButton = page.getByRole('button', { name: 'Connect with Local OIDC test provider' });
    await connectButton.waitFor();
    // The other way to connect reads as the link-like action it is, not as plain text.
    const connectUiAction = page.getByRole('button', { name: 'Open the Connect UI instead' });
    await expect(connectUiAction.evaluate((button) => getComputedStyle(button).textDecorationLine)).resolves.toBe('underline');
    await checkState(page, 'try-it');
    const popupOpened = page.context().waitForEvent('page');
    await connectButton.click();
    const popup = await popupOpened;
    await popup.waitForEvent('close', { timeout: 20_000 });

    await page.waitForURL(/\/dashboard\/connections\/oidc-demo\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const connectionId = decodeURIComponent(page.url().split('/').at(-1) ?? '');
    await page.getByRole('heading', { name: connectionId }).waitFor();
    const credentials = page.getByRole('region', { name: 'Credentials' });
    await credentials.getByText('OAUTH2').waitFor();
    await expect(credentials.textContent()).resolves.toMatch(/Bearer token/i);
    await expect(credentials.textContent()).resolves.toContain('openid');
    await expect(page.getByRole('region', { name: 'End user' }).textContent()).resolves.toContain('dashboard-test');
    await expect(page.getByText('Healthy', { exact: true }).isVisible()).resolves.toBe(true);
    await page.getByRole('region', { name: 'Latest events' }).getByText('Connected').waitFor();
    await checkState(page, 'connection-detail');

    // The token stays masked until revealed (which reads it through the audited route).
    const stored = await fetch(`${serverUrl}/connections/${connectionId}?provider_config_key=oidc-demo`, { headers: { authorization: 'Bearer secret' } }).then((response) => response.json());
    await expect(page.getByText(stored.credentials.access_token).count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Reveal token' }).click();
    await page.getByText(stored.credentials.access_token).waitFor();

    const grantsBefore = provider.refreshGrants();
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await page.getByText('Token refreshed.').waitFor();
    expect(provider.refreshGrants()).toBe(grantsBefore + 1);
    await page.getByRole('region', { name: 'Latest events' }).getByText('Token refreshed').waitFor();

    await page.getByRole('link', { name: 'Connections' }).first().click();
    const row = page.getByRole('row', { name: new RegExp(connectionId) });
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/oidc-demo.*Dashboard test.*Healthy/);
    await page.getByLabel('Search connections').fill('no-such-user');
    await page.getByRole('heading', { name: 'No connection matches' }).waitFor();
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await row.waitFor();
    await checkState(page, 'connections');
    // On a phone each connection is a card: nothing scrolls sideways, not even inside the table.
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(page.locator('.table-wrap').evaluate((wrap) => wrap.scrollWidth - wrap.clientWidth)).resolves.toBe(0);
    await expect(row.getByRole('link', { name: connectionId }).isVisible()).resolves.toBe(true);
    await expect(row.getByText('Healthy').isVisible()).resolves.toBe(true);
    await page.setViewportSize({ width: 1280, height: 860 });

    await row.getByRole('link', { name: connectionId }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete this connection?' }).waitFor();
    await checkState(page, 'connection-delete');
    await page.getByRole('button', { name: 'Delete connection' }).click();
    await page.waitForURL(`${serverUrl}/dashboard/connections`);
    await page.getByRole('heading', { name: 'No connections yet' }).waitFor();
    const gone = await fetch(`${serverUrl}/connections/${connectionId}?provider_config_key=oidc-demo`, { headers: { authorization: 'Bearer secret' } });
    expect(gone.status).toBe(404);

    await page.getByRole('link', { name: 'Integrations', exact: true }).click();
    await page.getByRole('link', { name: 'Local OIDC test provider', exact: true }).waitFor();
    await checkState(page, 'integrations');
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it('says what went wrong when Try it is declined at the provider', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/oidc-demo`);
    provider.denyNext();
    await browser.context.clearCookies();
    await page.getByRole('button', { name: 'Try it' }).click();
    const popupOpened = page.context().waitForEvent('page');
    await page.getByRole('button', { name: 'Connect with Local OIDC test provider' }).click();
    const popup = await popupOpened;
    await page.getByText('Access was not granted.').waitFor({ timeout: 20_000 });
    await expect(page.getByRole('dialog').textContent()).resolves.toContain('try again and approve');
    await checkState(page, 'try-it-declined');
    if (!popup.isClosed()) await popup.close();
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('offers a pinned host for a self-managed GitLab, shows it on the integration page and removes it when emptied', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/new`);
    await page.getByLabel('Search the provider catalog').fill('gitlab self');
    await page.getByRole('button', { name: /GitLab Self-Managed/ }).click();
    await page.getByRole('heading', { name: /Configure GitLab Self-Managed/ }).waitFor();
    await page.getByLabel('Integration key').fill('gitlab-pinned');
    await page.getByLabel('Client ID').fill('gitlab-client');
    await page.getByLabel('Client secret', { exact: true }).fill('gitlab-client-secret');
    await page.getByLabel('Pinned host').fill('GitLab.Example.com');
    await checkState(page, 'integration-new-pinned-host');
    await page.getByRole('button', { name: 'Create integration' }).click();

    await page.waitForURL(`${serverUrl}/dashboard/integrations/gitlab-pinned`);
    await page.getByText('gitlab.example.com', { exact: true }).waitFor();
    await checkState(page, 'integration-detail-pinned-host');
    await page.getByRole('button', { name: 'Edit' }).click();
    await expect(page.getByLabel('Pinned host').inputValue()).resolves.toBe('gitlab.example.com');
    await page.getByLabel('Pinned host').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('none: each connection names its own host').waitFor();
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it('asks for the dashboard sign-in when one is configured, and works with it; the provider list stays open', async () => {
    // Headless Chromium cannot show the login prompt, so the refusal is checked over plain HTTP.
    const refused = await fetch(`${lockedUrl}/dashboard/integrations`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="Custody dashboard"/);
    expect((await fetch(`${lockedUrl}/api/v1/integration`)).status).toBe(401);
    expect((await fetch(`${lockedUrl}/api/v1/provider`)).status).toBe(200);

    const signedIn = await browser.context.newPage();
    const errors: string[] = [];
    signedIn.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await signedIn.setExtraHTTPHeaders({ authorization: dashboardAuth('admin', 'pw') });
    const response = await signedIn.goto(`${lockedUrl}/dashboard/integrations`);
    expect(response?.status()).toBe(200);
    await signedIn.getByRole('link', { name: 'Local OIDC test provider', exact: true }).waitFor();
    await expect(signedIn.getByText('This dashboard is open.').count()).resolves.toBe(0);
    await signedIn.close();
    expect(errors).toEqual([]);
  });
});
