import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { fingerprintOf, startMutualTlsProvider, type MutualTlsProvider } from './support/mtls-provider.js';
import { scratchDir } from './support/scratch.js';
import type { TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * The Connect UI asks an end user of a provider that requires a client certificate (ADP) for the client and the
 * PEM certificate and key: multi-line fields that also load a file, the key hidden until asked for. The
 * connection it makes presents the certificate to a local stand-in that refuses any other.
 */
describe.skipIf(!hasChromium)('the Connect UI for a provider that requires a client certificate', () => {
  let database: TestDatabase;
  let provider: MutualTlsProvider;
  let test: TestApp;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    provider = await startMutualTlsProvider();
    const { catalog } = catalogWith({ 'adp-local': { alias: 'adp', display_name: 'ADP', token_url: `${provider.origin}/auth/oauth/v2/token`, proxy: { base_url: provider.origin } } });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog, extraTrustedCertificates: [provider.pki.caCertificate] });
    await test.app.listen({ port, host: '127.0.0.1' });
    const created = await fetch(`${serverUrl}/integrations`, { method: 'POST', headers: { authorization: 'Bearer secret', 'content-type': 'application/json' }, body: JSON.stringify({ unique_key: 'adp', provider: 'adp-local' }) });
    expect(created.status).toBe(200);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  it('takes the certificate pasted and the key from a file, checks them, and connects', async () => {
    const session = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: 'payroll-admin' }, allowed_integrations: ['adp'] }),
    }).then((response) => response.json() as Promise<{ data: { connect_link: string } }>);
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1000, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(session.data.connect_link);
    await page.getByRole('heading', { name: 'Connect ADP' }).waitFor();

    await page.getByLabel('Client ID', { exact: true }).fill(provider.clientId);
    await page.getByLabel('Client secret', { exact: true }).fill(provider.clientSecret);
    await page.getByLabel('Client certificate', { exact: true }).fill('not a certificate');
    await page.getByRole('button', { name: 'Connect ADP' }).click();
    await page.getByText('Paste the whole PEM block, from its -----BEGIN line to its -----END line, or load the file.').waitFor();
    await page.getByText('Client private key is required.').waitFor();
    await checkState(page, 'connect-client-certificate-errors', { fullPage: false });

    await page.getByLabel('Client certificate', { exact: true }).fill(provider.pki.client.certificate);
    const keyFile = path.join(scratchDir('connect-ui-key'), 'companyname_auth.key');
    writeFileSync(keyFile, provider.pki.client.privateKey);
    await page.locator('input[type=file]').nth(1).setInputFiles(keyFile);
    const keyField = page.getByLabel('Client private key', { exact: true });
    await expect.poll(() => keyField.inputValue()).toBe(provider.pki.client.privateKey);
    // The key is masked until the user asks to see it.
    expect(await keyField.evaluate((element) => getComputedStyle(element).getPropertyValue('-webkit-text-security'))).toBe('disc');
    await checkState(page, 'connect-client-certificate-filled', { fullPage: false });

    await page.getByRole('button', { name: 'Connect ADP' }).click();
    await page.getByRole('heading', { name: 'ADP is connected' }).waitFor();
    expect(provider.tokenRequests.map((request) => request.certificate)).toEqual([fingerprintOf(provider.pki.client.certificate)]);
    await page.close();
    expect(errors).toEqual([]);
  }, 90_000);
});
