import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, openPage, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { startGitHubAppServer, type GitHubAppServer } from './support/github-app-server.js';
import type { TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * The dashboard's form entry for a GitHub App in headless Chromium: the operator pastes the app's id, private
 * key and public link, never sees the key again, and "Try it" installs the app through the local GitHub.
 */
describe.skipIf(!hasChromium)('a GitHub App in the dashboard', () => {
  let database: TestDatabase;
  let github: GitHubAppServer;
  let test: TestApp;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    github = await startGitHubAppServer();
    github.setupUrl = `${serverUrl}/oauth/callback`;
    const { catalog } = catalogWith({
      'github-app-local': {
        alias: 'github-app',
        display_name: 'Local GitHub App',
        authorization_url: `${github.origin}/apps/\${app_slug}/installations/new`,
        token_url: `${github.origin}/app/installations/\${installation_id}/access_tokens`,
        proxy: { base_url: github.origin },
      },
    });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    browser = await launchBrowser({ httpCredentials: { username: 'admin', password: 'secret', origin: serverUrl } });
  });

  afterAll(async () => {
    await browser?.close();
    await test?.close();
    await github?.close();
    await database?.drop();
  });

  it('asks for the app id, private key and public link, never shows the key again, and installs the app with Try it', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/new`);
    await page.getByLabel('Search the provider catalog').fill('local github');
    await page.getByRole('button', { name: /Local GitHub App/ }).click();
    await page.getByRole('heading', { name: /Configure Local GitHub App/ }).waitFor();
    await page.getByLabel('Integration key').fill('gh-app');
    await page.getByRole('button', { name: 'Create integration' }).click();
    await page.getByText('Paste the App ID of your Local GitHub App.').waitFor();
    await page.getByLabel('App ID').fill(github.appId);
    await page.getByLabel('Private key (PEM)').fill('not a key');
    await page.getByLabel('Public link or slug').fill(`https://github.com/apps/${github.slug}`);
    await page.getByRole('button', { name: 'Create integration' }).click();
    await page.getByText(/must be the PEM of the app's private key/).waitFor();
    await page.getByLabel('Private key (PEM)').fill(github.privateKeyPem);
    await checkState(page, 'github-app-new');
    await page.getByRole('button', { name: 'Create integration' }).click();

    await page.waitForURL(`${serverUrl}/dashboard/integrations/gh-app`);
    await page.getByText('stored encrypted, never shown').waitFor();
    await expect(page.content()).resolves.not.toContain('PRIVATE KEY');
    await checkState(page, 'github-app-detail');

    // An edit that leaves the key empty keeps it.
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Public link or slug').fill(github.slug);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Integration saved.').waitFor();
    const row = await database.knex('_nango_configs').where({ unique_key: 'gh-app' }).first();
    expect(row.oauth_client_secret).toContain('PRIVATE KEY');
    expect(row.app_link).toBe(github.slug);

    await page.getByRole('button', { name: 'Try it' }).click();
    const connect = page.getByRole('button', { name: 'Connect with Local GitHub App' });
    await connect.waitFor();
    const popupOpened = page.context().waitForEvent('page');
    await connect.click();
    const popup = await popupOpened;
    await popup.waitForEvent('close', { timeout: 30_000 });
    await page.waitForURL(/\/dashboard\/connections\/gh-app\/[0-9a-f-]{36}$/, { timeout: 30_000 });
    await page.getByText('APP', { exact: true }).first().waitFor();
    await checkState(page, 'github-app-connection');
    expect(github.mints.get('1001')).toBe(1);
    await page.close();
    // The one refused request is the key that was not a key.
    expect(errors).toEqual(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  }, 180_000);
});
