import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, openPage, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { startSdkPageServer, type SdkPageServer } from './support/sdk-page-server.js';
import type { TestApp } from './support/test-app.js';
import { apiKeyTestProvider, catalogWith } from './support/test-providers.js';
import { startUpstream, type UpstreamServer } from './support/upstream-server.js';
import { buildWebTestApp } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

const SECRET_KEY = 'sk-snippets-0123456789';
const CONNECTION_ID = 'snippet-connection';
const STORED_API_KEY = 'stored-api-key-1';
/** Where the runnable copies of the snippets go: inside the package, so `@nangohq/node` resolves from its node_modules. */
const RUN_DIR = path.join(PACKAGE_ROOT, 'test-output', 'snippets');

/**
 * The integration page's code snippets: written for the integration's key, auth mode and this server, copied
 * with one click, never showing the secret key, and each one runs as shown (placeholders filled in) against the
 * real server: the Node one with @nangohq/node, the curl one with curl, the frontend ones with @nangohq/frontend
 * in Chromium.
 */
describe.skipIf(!hasChromium)('the integration code snippets', () => {
  let database: TestDatabase;
  let upstream: UpstreamServer;
  let test: TestApp;
  let pages: SdkPageServer;
  let browser: Browser;
  let serverUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    mkdirSync(RUN_DIR, { recursive: true });
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    database = await createTestDatabase();
    upstream = await startUpstream();
    const { catalog } = catalogWith({
      'key-test': apiKeyTestProvider({ proxy: { base_url: upstream.origin } }),
      'oauth-test': {
        display_name: 'OAuth Test',
        categories: ['other'],
        auth_mode: 'OAUTH2',
        // Never contacted: only the snippets of this integration are read.
        authorization_url: 'http://127.0.0.1:9/authorize',
        token_url: 'http://127.0.0.1:9/token',
        docs: 'https://example.com/docs',
        connection_config: { subdomain: { title: 'Subdomain', example: 'acme' } },
      },
    });
    test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: SECRET_KEY }, { providers: catalog });
    await test.app.listen({ port, host: '127.0.0.1' });
    await serverCall('POST', '/integrations', { unique_key: 'apikey', provider: 'key-test' });
    await serverCall('POST', '/integrations', { unique_key: 'oauth-demo', provider: 'oauth-test', credentials: { type: 'OAUTH2', client_id: 'cid', client_secret: 'csecret', scopes: 'read' } });
    await serverCall('POST', '/connections', { provider_config_key: 'apikey', connection_id: CONNECTION_ID, credentials: { type: 'API_KEY', apiKey: STORED_API_KEY } });
    pages = await startSdkPageServer();
    // The browser's login prompt answered with the secret key as the password (any user name will do).
    browser = await launchBrowser({ httpCredentials: { username: 'admin', password: SECRET_KEY, origin: serverUrl } });
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: serverUrl });
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await test?.close();
    await upstream?.close();
    await database?.drop();
  });

  async function serverCall(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
    const response = await fetch(`${serverUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${SECRET_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    expect(response.status, `${method} ${route}: ${text}`).toBeLessThan(300);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** Every snippet of an integration's page, by tab name, read as shown. */
  async function snippetsOf(page: Page): Promise<Record<string, string>> {
    const tabs = page.getByRole('tablist', { name: 'Code snippets' }).getByRole('tab');
    await tabs.first().waitFor();
    const shown: Record<string, string> = {};
    for (const name of await tabs.allTextContents()) {
      await tabs.filter({ hasText: name }).click();
      shown[name] = (await page.getByRole('tabpanel').textContent()) ?? '';
    }
    return shown;
  }

  /** Runs a program beside the server (asynchronously: the server answers from this process), with only the secret key in its environment. */
  function runProgram(command: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(command, args, { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env['PATH'] ?? '', NANGO_SECRET_KEY: SECRET_KEY } }, (error, stdout, stderr) =>
        resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
      child.stdin?.end();
    });
  }

  const fill = (code: string, values: Record<string, string>) => Object.entries(values).reduce((text, [placeholder, value]) => text.replaceAll(placeholder, value), code);

  it('shows frontend and backend snippets for the integration’s key, auth mode and this server, and never the secret key', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    await page.getByRole('region', { name: 'Use it in your code' }).waitFor();
    const snippets = await snippetsOf(page);
    expect(Object.keys(snippets)).toEqual(['Connect UI', 'auth()', 'Node', 'curl']);
    for (const code of Object.values(snippets)) {
      expect(code).toContain(serverUrl);
      expect(code).not.toContain(SECRET_KEY);
    }
    expect(snippets['Connect UI']).toContain(`baseURL: '${serverUrl}/connect'`);
    expect(snippets['auth()']).toContain(`await nango.auth('apikey', {\n  credentials: {\n    apiKey: '<API-KEY>',\n  },\n});`);
    expect(snippets['Node']).toContain('process.env.NANGO_SECRET_KEY');
    expect(snippets['Node']).toContain(`nango.getToken('apikey', '<CONNECTION-ID>')`);
    expect(snippets['curl']).toContain('"Authorization: Bearer $NANGO_SECRET_KEY"');
    expect(await page.content()).not.toContain(SECRET_KEY);
    await page.getByRole('tab', { name: 'auth()' }).click();
    await checkState(page, 'integration-snippets');
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('writes auth() for an OAuth integration as the popup call, with the connection parameters its provider needs', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/oauth-demo`);
    const snippets = await snippetsOf(page);
    expect(snippets['auth()']).toContain(`await nango.auth('oauth-demo', {\n  params: {\n    subdomain: '<SUBDOMAIN>',\n  },\n});`);
    expect(snippets['auth()']).not.toContain('credentials');
    expect(snippets['curl']).toContain(`'${serverUrl}/connections/<CONNECTION-ID>?provider_config_key=oauth-demo'`);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('copies the snippet shown with the Copy button', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    await page.getByRole('tab', { name: 'Node' }).click();
    const shown = await page.getByRole('tabpanel').textContent();
    await page.getByRole('button', { name: 'Copy the Node snippet' }).click();
    await page.getByText('Copied').waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(shown);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('runs the Node snippet as shown with @nangohq/node: a connect session, the token, a proxied call', async () => {
    const { page } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    const code = (await snippetsOf(page))['Node'] ?? '';
    await page.close();
    const file = path.join(RUN_DIR, 'node-snippet.mjs');
    // The snippet as shown, its placeholders filled in, then what it computed printed for the test to read.
    writeFileSync(file, `${fill(code, { '<END-USER-ID>': 'snippet-user', '<CONNECTION-ID>': CONNECTION_ID, '<API-PATH>': 'v1/me' })}\nconsole.log(JSON.stringify({ session: data.token, token }));\n`);
    upstream.requests.length = 0;
    const run = await runProgram(process.execPath, [file]);
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.join('\n')).toMatch(/method: 'GET'/);
    expect(JSON.parse(lines.at(-1) ?? '{}')).toEqual({ session: expect.stringMatching(/^nango_connect_session_/), token: { type: 'API_KEY', apiKey: STORED_API_KEY } });
    expect(upstream.requests.map((request) => [request.url, request.headers.authorization])).toEqual([['/v1/me', `Bearer ${STORED_API_KEY}`]]);
  });

  it.skipIf(spawnSync('curl', ['--version']).status !== 0)('runs the curl snippet as shown: a connect session, the credentials, a proxied call', async () => {
    const { page } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    const code = (await snippetsOf(page))['curl'] ?? '';
    await page.close();
    upstream.requests.length = 0;
    const run = await runProgram('bash', ['--norc', '-e', '-c', fill(code, { '<END-USER-ID>': 'snippet-user', '<CONNECTION-ID>': CONNECTION_ID, '<API-PATH>': 'v1/me' })]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/"token":"nango_connect_session_/);
    expect(run.stdout).toContain(`"apiKey":"${STORED_API_KEY}"`);
    expect(run.stdout).toContain('{"method":"GET","url":"/v1/me"}');
    expect(upstream.requests.map((request) => request.headers.authorization)).toEqual([`Bearer ${STORED_API_KEY}`]);
  });

  /** An operator's page (another origin) running a frontend snippet with @nangohq/frontend 0.71.10, mapped by an import map. */
  async function runFrontendSnippet(code: string): Promise<{ page: Page; logs: string[]; errors: string[] }> {
    pages.setPage(`<!doctype html><html lang="en"><head><title>Operator app</title>
<script type="importmap">{"imports":{"@nangohq/frontend":"/sdk/071/index.js"}}</script></head>
<body><h1>Acme CRM</h1><script type="module">${code}</script></body></html>`);
    const page = await browser.context.newPage();
    const logs: string[] = [];
    const errors: string[] = [];
    page.on('console', (message) => (message.type() === 'error' ? errors : logs).push(message.text()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pages.origin);
    return { page, logs, errors };
  }

  it('runs the auth() snippet as shown with @nangohq/frontend: the API key is stored for the session’s end user', async () => {
    const { page: dashboard } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    const code = (await snippetsOf(dashboard))['auth()'] ?? '';
    await dashboard.close();
    const session = (await serverCall('POST', '/connect/sessions', { end_user: { id: 'auth-snippet-user' }, allowed_integrations: ['apikey'] })) as { data: { token: string } };
    const { page, logs, errors } = await runFrontendSnippet(fill(code, { '<CONNECT-SESSION-TOKEN>': session.data.token, '<API-KEY>': 'typed-api-key' }));
    await expect.poll(() => logs.find((line) => line.startsWith('Connected:')), { timeout: 20_000 }).toBeDefined();
    const connectionId = (logs.find((line) => line.startsWith('Connected:')) ?? '').replace('Connected: ', '');
    const stored = await serverCall('GET', `/connections/${connectionId}?provider_config_key=apikey`);
    expect(stored).toMatchObject({ credentials: { type: 'API_KEY', apiKey: 'typed-api-key' }, end_user: { id: 'auth-snippet-user' } });
    await page.close();
    expect(errors).toEqual([]);
  });

  it('runs the Connect UI snippet as shown: the Connect UI opens from this server and reports the connection', async () => {
    const { page: dashboard } = await openPage(browser, `${serverUrl}/dashboard/integrations/apikey`);
    const code = (await snippetsOf(dashboard))['Connect UI'] ?? '';
    await dashboard.close();
    const session = (await serverCall('POST', '/connect/sessions', { end_user: { id: 'connect-ui-snippet-user' }, allowed_integrations: ['apikey'] })) as { data: { token: string } };
    const { page, logs, errors } = await runFrontendSnippet(fill(code, { '<CONNECT-SESSION-TOKEN>': session.data.token }));
    const frame = page.frameLocator('#connect-ui');
    await frame.getByLabel('API key', { exact: true }).fill('connect-ui-api-key');
    await frame.getByRole('button', { name: 'Connect Key Test' }).click();
    await expect.poll(() => logs.find((line) => line.startsWith('Connected:')), { timeout: 20_000 }).toBeDefined();
    const connectionId = (logs.find((line) => line.startsWith('Connected:')) ?? '').replace('Connected: ', '');
    expect(await serverCall('GET', `/connections/${connectionId}?provider_config_key=apikey`)).toMatchObject({ credentials: { apiKey: 'connect-ui-api-key' }, end_user: { id: 'connect-ui-snippet-user' } });
    await page.close();
    expect(errors).toEqual([]);
  });
});
