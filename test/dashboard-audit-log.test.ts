import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkState } from './support/accessibility.js';
import { hasChromium, launchBrowser, openPage, type Browser } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import type { TestApp } from './support/test-app.js';
import { buildWebTestApp, dashboardAuth } from './support/web-app.js';
import { ensureWebBuild } from './support/web-build.js';

/**
 * The dashboard's audit log: `GET /api/v1/audit-log` (filters, keyset pages, dashboard sign-in) and the
 * "Audit log" page in headless Chromium.
 */
const SECRET = { authorization: 'Bearer sk-audit' };
const OPEN_DASHBOARD = 'dashboard:(open dashboard)';
const ALICE_READS = 55;
const DAY = 24 * 60 * 60 * 1000;

let database: TestDatabase;
/** The dashboard of a server without a secret key (open), on the database that `keyed` writes to. */
let test: TestApp;
/** The same server with a secret key, for the API calls that the trail records as the secret key's. */
let keyed: TestApp;
let locked: TestApp;
let serverUrl: string;

interface Entry {
  id: string;
  at: string;
  action: string;
  route: string;
  principal: string;
  providerConfigKey: string | null;
  connectionId: string | null;
  details: Record<string, unknown>;
  count: number;
}
interface AuditPage {
  entries: Entry[];
  olderCursor: string | null;
  newerCursor: string | null;
  limit: number;
  retentionDays: number;
}

beforeAll(async () => {
  database = await createTestDatabase();
  const port = await freePort();
  serverUrl = `http://127.0.0.1:${port}`;
  test = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_AUDIT_RETENTION_DAYS: '90' });
  keyed = await buildWebTestApp(database, { NANGO_SERVER_URL: serverUrl, NANGO_SECRET_KEY: 'sk-audit', NANGO_AUDIT_RETENTION_DAYS: '90' });
  await test.app.listen({ port, host: '127.0.0.1' });
  locked = await buildWebTestApp(database, { NANGO_DASHBOARD_USERNAME: 'admin', NANGO_DASHBOARD_PASSWORD: 'pw' });

  // Every entry below is written by the request that describes it, oldest first.
  const send = async (method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: object) => {
    const response = await (url.startsWith('/api/v1') ? test : keyed).app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    expect(response.statusCode, `${method} ${url}: ${response.body.slice(0, 200)}`).toBeLessThan(300);
  };
  await send('POST', '/api/v1/integration', {}, { provider_config_key: 'github-prod', provider: 'github', client_id: 'cid', client_secret: 'csecret', scopes: 'repo' });
  await send('POST', '/config', SECRET, { provider_config_key: 'slack-prod', provider: 'slack', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'chat:write' });
  for (const connectionId of ['alice', 'bob']) {
    await send('POST', '/connection', SECRET, { connection_id: connectionId, provider_config_key: 'github-prod', type: 'OAUTH2', access_token: `token-of-${connectionId}` });
  }
  await send('GET', '/api/v1/connection/bob?provider_config_key=github-prod', {});
  for (let read = 0; read < ALICE_READS; read++) await send('GET', '/connection/alice?provider_config_key=github-prod', SECRET);
  // The two integrations were created ten days ago, for the time filters.
  await database.knex('_custody_audit_log').where({ action: 'integration.create' }).update({ at: new Date(Date.now() - 10 * DAY) });
});

afterAll(async () => {
  await locked?.close();
  await keyed?.close();
  await test?.close();
  await database?.drop();
});

async function auditLog(query: string): Promise<AuditPage> {
  const response = await test.app.inject({ method: 'GET', url: `/api/v1/audit-log${query}` });
  expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  return response.json() as AuditPage;
}

describe('GET /api/v1/audit-log', () => {
  it('lists the newest entries first, each with when, what, who, which connection and which route', async () => {
    const page = await auditLog('?limit=5');
    expect(page.entries).toHaveLength(5);
    expect(page.entries.map((entry) => Number(entry.id))).toEqual([...page.entries.map((entry) => Number(entry.id))].sort((a, b) => b - a));
    expect(page.entries[0]).toEqual({
      id: expect.stringMatching(/^\d+$/),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      action: 'credentials.read',
      route: 'GET /connection/:connectionId',
      principal: 'secret_key',
      providerConfigKey: 'github-prod',
      connectionId: 'alice',
      details: {},
      count: 1,
    });
    expect(page).toMatchObject({ newerCursor: null, olderCursor: page.entries[4]?.id, limit: 5, retentionDays: 90 });
  });

  it('filters by integration and connection id', async () => {
    const { entries } = await auditLog('?integration=github-prod&connectionId=bob');
    expect(entries.map((entry) => [entry.action, entry.principal])).toEqual([
      ['credentials.read', OPEN_DASHBOARD],
      ['connection.create', 'secret_key'],
    ]);
  });

  it('filters by action', async () => {
    const { entries } = await auditLog('?action=integration.create');
    expect(entries.map((entry) => entry.providerConfigKey)).toEqual(['slack-prod', 'github-prod']);
  });

  it('filters by the start of the principal, so "dashboard:" finds every dashboard user', async () => {
    const { entries } = await auditLog(`?principal=${encodeURIComponent('dashboard:')}`);
    expect(entries.map((entry) => [entry.action, entry.principal, entry.connectionId])).toEqual([
      ['credentials.read', OPEN_DASHBOARD, 'bob'],
      ['integration.create', OPEN_DASHBOARD, null],
    ]);
  });

  it('takes the principal filter literally: % and _ are not wildcards', async () => {
    expect((await auditLog(`?principal=${encodeURIComponent('%')}`)).entries).toEqual([]);
    expect((await auditLog(`?principal=${encodeURIComponent('secret_')}`)).entries.length).toBeGreaterThan(0);
    expect((await auditLog(`?principal=${encodeURIComponent('secret%')}`)).entries).toEqual([]);
  });

  it('filters by a time range', async () => {
    const fiveDaysAgo = encodeURIComponent(new Date(Date.now() - 5 * DAY).toISOString());
    const older = await auditLog(`?until=${fiveDaysAgo}`);
    expect(older.entries.map((entry) => entry.action)).toEqual(['integration.create', 'integration.create']);
    const recent = await auditLog(`?since=${fiveDaysAgo}&action=connection.create`);
    expect(recent.entries.map((entry) => entry.connectionId)).toEqual(['bob', 'alice']);
  });

  it('pages towards older entries and back, without overlap, with no cursor past either end', async () => {
    const all = (await auditLog('?limit=200')).entries.map((entry) => entry.id);
    expect(all).toHaveLength(ALICE_READS + 5);
    const walked: string[] = [];
    let page = await auditLog('?limit=25');
    const pages = [page];
    walked.push(...page.entries.map((entry) => entry.id));
    while (page.olderCursor) {
      page = await auditLog(`?limit=25&before=${page.olderCursor}`);
      pages.push(page);
      walked.push(...page.entries.map((entry) => entry.id));
    }
    expect(walked).toEqual(all);
    expect(pages.map((each) => each.entries.length)).toEqual([25, 25, 10]);
    expect(pages.at(-1)?.newerCursor).toBe(pages.at(-1)?.entries[0]?.id);
    // Back from the oldest page: the middle page again, then the newest, which has nothing newer.
    const middle = await auditLog(`?limit=25&after=${pages[2]?.newerCursor}`);
    expect(middle.entries).toEqual(pages[1]?.entries);
    const newest = await auditLog(`?limit=25&after=${middle.newerCursor}`);
    expect(newest.entries).toEqual(pages[0]?.entries);
    expect(newest.newerCursor).toBeNull();
  });

  it('keeps an older page the same while new entries are written', async () => {
    const first = await auditLog('?limit=10');
    const second = await auditLog(`?limit=10&before=${first.olderCursor}`);
    await keyed.app.inject({ method: 'GET', url: '/connection/bob?provider_config_key=github-prod', headers: SECRET });
    expect(await auditLog(`?limit=10&before=${first.olderCursor}`)).toEqual(second);
    expect((await auditLog('?limit=1')).entries[0]).toMatchObject({ connectionId: 'bob', action: 'credentials.read', principal: 'secret_key' });
  });

  it('refuses a malformed filter with a 400 that names it', async () => {
    const cases: [string, string][] = [
      ['?action=credentials.steal', 'action'],
      ['?since=yesterday', 'since'],
      ['?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', 'until'],
      ['?before=12&after=10', 'after'],
      ['?before=latest', 'before'],
      ['?limit=1000', 'limit'],
      ['?connection=alice', 'connection'],
    ];
    for (const [query, named] of cases) {
      const response = await test.app.inject({ method: 'GET', url: `/api/v1/audit-log${query}` });
      expect(response.statusCode, query).toBe(400);
      expect(response.json(), query).toMatchObject({ type: 'invalid_query_params', error: expect.stringContaining(named) });
    }
  });

  it('needs the dashboard sign-in when one is configured, and refuses the secret key', async () => {
    expect((await locked.app.inject({ method: 'GET', url: '/api/v1/audit-log' })).statusCode).toBe(401);
    expect((await locked.app.inject({ method: 'GET', url: '/api/v1/audit-log', headers: { authorization: 'Bearer sk-audit' } })).statusCode).toBe(401);
    const signedIn = await locked.app.inject({ method: 'GET', url: '/api/v1/audit-log?limit=1', headers: { authorization: dashboardAuth('admin', 'pw') } });
    expect(signedIn.statusCode).toBe(200);
    expect(signedIn.json().entries).toHaveLength(1);
  });
});

describe.skipIf(!hasChromium)('the audit log page in a browser', () => {
  let browser: Browser;
  let emptyDatabase: TestDatabase;
  let empty: TestApp;
  let emptyUrl: string;

  beforeAll(async () => {
    ensureWebBuild();
    emptyDatabase = await createTestDatabase();
    const port = await freePort();
    emptyUrl = `http://127.0.0.1:${port}`;
    empty = await buildWebTestApp(emptyDatabase, { NANGO_SERVER_URL: emptyUrl });
    await empty.app.listen({ port, host: '127.0.0.1' });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await empty?.close();
    await emptyDatabase?.drop();
  });

  const bodyRows = (page: Page) => page.locator('table tbody tr');

  it('opens from the navigation, filters by integration, connection, action, principal and time, and pages, without console errors', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/integrations`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(`${serverUrl}/dashboard/audit-log`);
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    await expect(page.getByRole('link', { name: 'Audit log' }).getAttribute('aria-current')).resolves.toBe('page');
    await page.getByText('50 entries, newest first · kept 90 days').waitFor();
    await expect(bodyRows(page).count()).resolves.toBe(50);
    await checkState(page, 'audit-log');

    // Pages with the keyboard: the buttons are real buttons.
    await expect(page.getByRole('button', { name: 'Newer entries' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('button', { name: 'Older entries' }).press('Enter');
    await expect.poll(() => page.getByRole('button', { name: 'Older entries' }).isDisabled()).toBe(true);
    await expect.poll(() => bodyRows(page).last().textContent()).toMatch(/Integration created.*dashboard:\(open dashboard\).*github-prod/);
    await page.getByRole('button', { name: 'Newer entries' }).press('Enter');
    await expect.poll(() => page.getByRole('button', { name: 'Newer entries' }).isDisabled()).toBe(true);
    await expect(bodyRows(page).count()).resolves.toBe(50);

    const rows = () => bodyRows(page).allTextContents();
    await page.getByLabel('Action').selectOption('connection.create');
    await expect.poll(rows).toEqual([expect.stringMatching(/Connected.*secret_key.*bob.*github-prod/), expect.stringMatching(/Connected.*secret_key.*alice.*github-prod/)]);
    await page.getByLabel('Connection ID').fill('bob');
    await expect.poll(rows).toEqual([expect.stringMatching(/Connected.*bob/)]);
    await page.getByLabel('Action').selectOption('');
    await page.getByLabel('Principal').fill('dashboard:');
    await expect.poll(rows).toEqual([expect.stringMatching(/Credentials read.*dashboard:\(open dashboard\).*bob.*github-prod/)]);
    await page.getByLabel('Connection ID').fill('');
    await expect.poll(rows).toEqual([expect.stringMatching(/Credentials read.*bob/), expect.stringMatching(/Integration created.*dashboard:.*github-prod/)]);
    await page.getByLabel('Integration').selectOption('slack-prod');
    await page.getByRole('heading', { name: 'No entry matches' }).waitFor();
    await page.getByLabel('Principal').fill('secret_key');
    await expect.poll(rows).toEqual([expect.stringMatching(/Integration created.*secret_key.*slack-prod/)]);
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({ integration: 'slack-prod', principal: 'secret_key' });
    await checkState(page, 'audit-log-filtered');

    await page.getByLabel('Integration').selectOption('');
    await page.getByLabel('From').fill('2099-01-01T00:00');
    await page.getByRole('heading', { name: 'No entry matches' }).waitFor();
    await page.getByLabel('From').fill('');
    await page.getByLabel('To', { exact: true }).fill('2000-01-01T00:00');
    await page.waitForURL((url) => url.searchParams.has('until') && !url.searchParams.has('since'));
    await page.getByRole('heading', { name: 'No entry matches' }).waitFor();
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await page.waitForURL(`${serverUrl}/dashboard/audit-log`);
    await expect.poll(() => bodyRows(page).count()).toBe(50);
    await expect(page.getByLabel('Principal').inputValue()).resolves.toBe('');

    await checkState(page, 'audit-log-cleared');
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it('opens the audit log of one connection from its page', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/connections/github-prod/bob`);
    await page.getByRole('link', { name: 'All events in the audit log' }).click();
    await page.waitForURL(`${serverUrl}/dashboard/audit-log?integration=github-prod&connectionId=bob`);
    await page.getByText(/^\d entries, newest first/).waitFor();
    const texts = await bodyRows(page).allTextContents();
    expect(texts).toContainEqual(expect.stringMatching(/Connected.*bob/));
    expect(texts.every((text) => text.includes('bob'))).toBe(true);
    await expect(page.getByLabel('Connection ID').inputValue()).resolves.toBe('bob');
    await page.close();
    expect(errors).toEqual([]);
  });

  it('shows a designed empty state before anything is recorded', async () => {
    const { page, errors } = await openPage(browser, `${emptyUrl}/dashboard/audit-log`);
    await page.getByRole('heading', { name: 'No audit entries yet' }).waitFor();
    await expect(page.getByText('Entries are kept 365 days.', { exact: false }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('link', { name: 'Go to connections' }).isVisible()).resolves.toBe(true);
    await checkState(page, 'audit-log-empty');
    await page.close();
    expect(errors).toEqual([]);
  }, 60_000);

  it('explains a filter the server refuses and offers to clear it', async () => {
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/audit-log?since=yesterday`);
    const alert = page.getByRole('alert');
    await alert.getByRole('heading', { name: 'These filters cannot be used' }).waitFor();
    await expect(alert.textContent()).resolves.toContain('since: must be an ISO 8601 date and time');
    await checkState(page, 'audit-log-refused-filter');
    await alert.getByRole('button', { name: 'Clear the filters' }).click();
    await expect.poll(() => bodyRows(page).count()).toBe(50);
    await page.close();
    // The browser reports the refused request itself; nothing else may go wrong.
    expect(errors.filter((error) => !/status of 400/.test(error))).toEqual([]);
  });

  it('says beside the action how many identical entries written together a row stands for', async () => {
    // Last of the page's specs: a row of its own connection, dated before the others so no earlier page moves.
    const details = { method: 'GET', upstream: 'http://127.0.0.1:9/api/items', status: 200 };
    await database.knex('_custody_audit_log').insert({ at: new Date(Date.now() - 20 * DAY), action: 'credentials.use', route: 'GET /proxy/*', principal: 'secret_key', provider_config_key: 'github-prod', connection_id: 'carol', details, count: 3 });
    const { page, errors } = await openPage(browser, `${serverUrl}/dashboard/audit-log?connectionId=carol`);
    await expect.poll(() => bodyRows(page).count()).toBe(1);
    await expect(bodyRows(page).first().textContent()).resolves.toMatch(/× 3/);
    await page.close();
    expect(errors).toEqual([]);
  });
});
