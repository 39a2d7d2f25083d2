import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProviderCatalog } from '../src/providers/provider-catalog.js';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { refusal, rehost, startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.js';
import { freePort } from './support/free-port.js';
import type { TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * An end user connects a SAP Concur company in the Connect UI (headless Chromium, through a connect link): the
 * form asks for the company UUID, the request token (masked) and the app's data center, and the request token
 * reaches the password grant without ever becoming a connection parameter. The stand-in on 127.0.0.1 takes only
 * SAP Concur's company grant.
 */
const COMPANY = randomUUID();
const REQUEST_TOKEN = `crt-${randomBytes(12).toString('hex')}`;

describe.skipIf(!hasChromium)('SAP Concur in the Connect UI', () => {
  let database: TestDatabase;
  let concur: DocumentedProvider;
  let test: TestApp;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    concur = await startDocumentedProvider({
      answer(request, provider) {
        const { params } = request;
        if (request.path !== '/oauth2/v0/token' || params['grant_type'] !== 'password' || params['credtype'] !== 'authtoken') return refusal(400, 'invalid_request', 'Only the company password grant here.');
        if (params['client_id'] !== provider.clientId || params['client_secret'] !== provider.clientSecret) return refusal(401, 'invalid_client', 'Incorrect Credentials. Please Retry');
        if (params['username'] !== COMPANY || params['password'] !== REQUEST_TOKEN) return refusal(401, 'invalid_grant', 'Incorrect Credentials. Please Retry');
        return { status: 200, body: { access_token: 'concur-access', refresh_token: 'concur-refresh', expires_in: '3600', geolocation: provider.origin } };
      },
    });
    const template = loadProviderCatalog().get('sap-concur');
    const { catalog } = catalogWith({ 'sap-concur': { token_url: rehost(template?.token_url?.split(' || ')[1], concur.origin), api_base_url: { hosts: ['http://127.0.0.1'] } } });
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'secret' }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    const created = await fetch(`${serverUrl}/integrations`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ unique_key: 'concur', provider: 'sap-concur', credentials: { type: 'OAUTH2', client_id: concur.clientId, client_secret: concur.clientSecret, scopes: '' } }),
    });
    expect(created.status).toBe(200);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await test?.close();
    await concur?.close();
    await database?.drop();
  });

  it('asks for the company UUID, the request token and the data center, and connects with the company grant', async () => {
    const session = await fetch(`${serverUrl}/connect/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
      body: JSON.stringify({ end_user: { id: 'finance-1' }, allowed_integrations: ['concur'] }),
    });
    const { connect_link } = ((await session.json()) as { data: { connect_link: string } }).data;
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1000, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(connect_link);
    await page.getByRole('heading', { name: 'Connect SAP Concur' }).waitFor();
    await page.getByLabel('Company UUID').fill(COMPANY);
    const token = page.getByLabel('Company request token', { exact: true });
    await expect(token.getAttribute('type')).resolves.toBe('password');
    await token.fill(REQUEST_TOKEN);
    await checkState(page, 'sap-concur-connect-form', { fullPage: false });
    await page.getByRole('button', { name: 'Connect SAP Concur' }).click();
    await page.getByRole('heading', { name: 'SAP Concur is connected' }).waitFor();
    expect(concur.requests.at(-1)?.params).toMatchObject({ grant_type: 'password', credtype: 'authtoken', username: COMPANY, password: REQUEST_TOKEN });

    const list = (await fetch(`${serverUrl}/connections?endUserId=finance-1`, { headers: { authorization: 'Bearer secret' } }).then((response) => response.json())) as { connections: { connection_id: string }[] };
    const connectionId = list.connections[0]?.connection_id ?? '';
    const connection = (await fetch(`${serverUrl}/connections/${connectionId}?provider_config_key=concur`, { headers: { authorization: 'Bearer secret' } }).then((response) => response.json())) as Record<string, Record<string, unknown>>;
    expect(connection['connection_config']).toEqual({ companyUUID: COMPANY });
    expect(connection['credentials']).toMatchObject({ type: 'OAUTH2_CC', api_base_url: concur.origin, connection_credentials: { companyRequestToken: REQUEST_TOKEN } });
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);
});
