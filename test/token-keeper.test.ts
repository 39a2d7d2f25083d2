import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startRotatingTokenEndpoint, type RotatingTokenEndpoint } from './support/rotating-token-endpoint.js';
import { buildTestApp, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

/**
 * The token keeper on a clock the spec moves: the max-age rule, retries with backoff, giving up after
 * NANGO_REFRESH_GIVE_UP_DAYS, health on every surface, a hand refresh that starts over, the keeper off, and the
 * plan of its claim on 100,000 connections. Sweeps are run by the spec (`app.tokenKeeper.sweep()`); the
 * two-process behaviour in real time is test/token-keeper-processes.test.ts.
 */
const KEY = 'rotating';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

let database: TestDatabase;
let endpoint: RotatingTokenEndpoint;
let receiver: WebhookReceiver;
let catalog: ReturnType<typeof catalogWith>['catalog'];
const apps: TestApp[] = [];
let clock = Date.now();
const now = (): Date => new Date(clock);

async function appWith(env: Record<string, string>): Promise<TestApp> {
  const test = await buildTestApp(database, { NANGO_WEBHOOK_URL: receiver.url, ...env }, { providers: catalog, now });
  apps.push(test);
  return test;
}

async function importConnection(test: TestApp, connectionId: string, grant: string, expiresAt: Date): Promise<void> {
  const response = await test.app.inject({
    method: 'POST',
    url: '/connection',
    payload: { connection_id: connectionId, provider_config_key: KEY, type: 'OAUTH2', access_token: endpoint.currentAccessToken(grant), refresh_token: endpoint.currentRefreshToken(grant), expires_at: expiresAt.toISOString() },
  });
  expect(response.statusCode, response.body).toBe(201);
}

function refreshWebhooks(connectionId: string): { success: boolean }[] {
  return receiver.received.map((hook) => JSON.parse(hook.rawBody) as { operation: string; success: boolean; connectionId: string }).filter((hook) => hook.connectionId === connectionId && hook.operation === 'refresh');
}

async function waitForWebhooks(connectionId: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (refreshWebhooks(connectionId).length < count && Date.now() < deadline) await sleep(25);
}

beforeAll(async () => {
  database = await createTestDatabase();
  endpoint = await startRotatingTokenEndpoint();
  receiver = await startWebhookReceiver();
  ({ catalog } = catalogWith({
    'rotating-test': { display_name: 'Local rotating token endpoint', categories: ['other'], auth_mode: 'OAUTH2', authorization_url: endpoint.authorizationUrl, token_url: endpoint.tokenUrl, docs: 'https://example.com/docs' },
  }));
  const setup = await appWith({});
  const config = await setup.app.inject({ method: 'POST', url: '/config', payload: { provider_config_key: KEY, provider: 'rotating-test', oauth_client_id: endpoint.clientId, oauth_client_secret: endpoint.clientSecret, oauth_scopes: 'read' } });
  expect(config.statusCode).toBe(200);
}, 60_000);

afterEach(() => {
  endpoint.outage = false;
});

afterAll(async () => {
  await Promise.all(apps.map((test) => test.close()));
  await receiver?.close();
  await endpoint?.close();
  await database?.drop();
});

describe('settings', () => {
  it('reads NANGO_REFRESH_* with Nango-like defaults, decimals for hours and days', () => {
    expect(loadConfig({}).keeper).toEqual({ sweepMs: 600_000, maxAgeMs: 24 * HOUR, giveUpMs: 7 * DAY, concurrency: 10 });
    expect(loadConfig({ NANGO_REFRESH_MAX_AGE_HOURS: '0.5', NANGO_REFRESH_GIVE_UP_DAYS: '1.5', NANGO_REFRESH_SWEEP_SECONDS: '0' }).keeper).toMatchObject({ sweepMs: 0, maxAgeMs: HOUR / 2, giveUpMs: 1.5 * DAY });
  });

  it('refuses a bad value with one line naming the variable', () => {
    expect(() => loadConfig({ NANGO_REFRESH_SWEEP_SECONDS: '1.5' })).toThrow(/NANGO_REFRESH_SWEEP_SECONDS must be a whole number of seconds from 0 to 86400 \(got "1.5"\)/);
    expect(() => loadConfig({ NANGO_REFRESH_CONCURRENCY: '0' })).toThrow(/NANGO_REFRESH_CONCURRENCY/);
    expect(() => loadConfig({ NANGO_REFRESH_MAX_AGE_HOURS: 'daily' })).toThrow(/NANGO_REFRESH_MAX_AGE_HOURS must be a number \(decimals allowed\)/);
  });
});

describe('the max-age rule', () => {
  it('refreshes a connection far from expiry once its last refresh is older than NANGO_REFRESH_MAX_AGE_HOURS, and not before', async () => {
    const test = await appWith({ NANGO_REFRESH_SWEEP_SECONDS: '3600', NANGO_REFRESH_MAX_AGE_HOURS: '24' });
    const grant = endpoint.grant();
    await importConnection(test, 'far-from-expiry', grant, new Date(clock + 30 * DAY));
    clock += 22 * HOUR;
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.rotations(grant)).toBe(0);
    clock += 3 * HOUR;
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.rotations(grant)).toBe(1);
    // Refreshed: the next one is a day away, not at the next sweep.
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.rotations(grant)).toBe(1);
    expect(refreshWebhooks('far-from-expiry')).toEqual([]);
  });

  it('leaves connections alone whose credentials cannot be renewed', async () => {
    // The API words health on the real clock: this connection expired a minute ago.
    clock = Date.now();
    const test = await appWith({ NANGO_REFRESH_SWEEP_SECONDS: '3600' });
    const response = await test.app.inject({ method: 'POST', url: '/connection', payload: { connection_id: 'no-refresh-token', provider_config_key: KEY, type: 'OAUTH2', access_token: 'only-an-access-token', expires_at: new Date(clock - 60_000).toISOString() } });
    expect(response.statusCode).toBe(201);
    const row = (await database.knex('_nango_connections').where({ connection_id: 'no-refresh-token' }).first()) as { refresh_due_at: Date | null };
    expect(row.refresh_due_at).toBeNull();
    const requests = endpoint.requests();
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.requests()).toBe(requests);
    const shown = (await test.app.inject({ method: 'GET', url: `/connections/no-refresh-token?provider_config_key=${KEY}` })).json();
    expect(shown).toMatchObject({ errors: [{ type: 'auth', log_id: '' }], health: { state: 'expired' } });
  });
});

describe('a provider that keeps failing', () => {
  let test: TestApp;
  const grant = (): string => subjectGrant;
  let subjectGrant = '';

  beforeAll(async () => {
    // Only this connection: the counts below (provider requests, connections given up) are its own.
    await database.knex('_nango_connections').delete();
    test = await appWith({ NANGO_REFRESH_SWEEP_SECONDS: '3600', NANGO_REFRESH_GIVE_UP_DAYS: '7' });
    subjectGrant = endpoint.grant();
  });

  it('keeps the credentials, records the failure, tells the app with success: false, and retries later with growing pauses', async () => {
    endpoint.outage = true;
    const startedFailing = clock;
    await importConnection(test, 'failing', grant(), new Date(clock + 5 * 60_000));
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    await waitForWebhooks('failing', 1);
    expect(refreshWebhooks('failing')).toEqual([expect.objectContaining({ success: false })]);
    const row = (await database.knex('_nango_connections').where({ connection_id: 'failing' }).first()) as Record<string, unknown> & { credentials: { refresh_token: string }; refresh_due_at: Date };
    expect(row).toMatchObject({ refresh_attempts: 1, refresh_failing_since: new Date(startedFailing), last_refresh_failure: new Date(startedFailing), last_refresh_error: expect.stringContaining('temporarily_unavailable'), refresh_given_up_at: null });
    expect(row.credentials.refresh_token).toBe(endpoint.currentRefreshToken(grant()));
    // First retry one sweep interval later; a sweep before then does not call the provider.
    expect(row.refresh_due_at.getTime()).toBe(startedFailing + HOUR);
    const requests = endpoint.requests();
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.requests()).toBe(requests);

    // Read without refreshing (a credential read of a token this close to expiry would try the provider itself).
    const page = (await test.app.inject({ method: 'GET', url: `/api/v1/connection/failing/details?provider_config_key=${KEY}` })).json().connection;
    expect(page).toMatchObject({ health: 'refresh_failed', healthSince: new Date(startedFailing).toISOString(), refreshDueAt: new Date(startedFailing + HOUR).toISOString() });
    const listed = (await test.app.inject({ method: 'GET', url: '/connections?connectionId=failing' })).json().connections;
    expect(listed).toEqual([expect.objectContaining({ connection_id: 'failing', errors: [{ type: 'auth', log_id: '' }], health: expect.objectContaining({ state: 'refresh_failed' }) })]);

    clock += 2 * HOUR;
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    const second = (await database.knex('_nango_connections').where({ connection_id: 'failing' }).first()) as { refresh_attempts: number; refresh_due_at: Date };
    expect(second.refresh_attempts).toBe(2);
    expect(second.refresh_due_at.getTime()).toBe(clock + 2 * HOUR);
  });

  it('gives up after NANGO_REFRESH_GIVE_UP_DAYS of failures, says so in the audit trail, and stops calling the provider', async () => {
    endpoint.outage = true;
    for (let sweeps = 0; sweeps < 40; sweeps++) {
      clock += 6 * HOUR;
      await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
      const row = (await database.knex('_nango_connections').where({ connection_id: 'failing' }).first()) as { refresh_given_up_at: Date | null };
      if (row.refresh_given_up_at) break;
    }
    const row = (await database.knex('_nango_connections').where({ connection_id: 'failing' }).first()) as { refresh_given_up_at: Date | null; refresh_failing_since: Date; refresh_due_at: Date | null };
    expect(row.refresh_given_up_at).not.toBeNull();
    expect(row.refresh_due_at).toBeNull();
    // Given up at the give-up time, not a backoff step after it.
    expect(row.refresh_given_up_at!.getTime() - row.refresh_failing_since.getTime()).toBeLessThan(7 * DAY + 6 * HOUR);
    expect(row.refresh_given_up_at!.getTime() - row.refresh_failing_since.getTime()).toBeGreaterThanOrEqual(7 * DAY);

    const entries = (await database.knex('_custody_audit_log').where({ connection_id: 'failing' }).orderBy('id')) as { action: string; principal: string }[];
    expect(entries.at(-1)).toMatchObject({ action: 'connection.refresh_given_up', principal: 'keeper' });
    expect(entries.filter((entry) => entry.action === 'connection.refresh_failed').every((entry) => entry.principal === 'keeper')).toBe(true);
    expect(test.logs.join('')).toContain('Stopped refreshing connection \\"failing\\"');

    const requests = endpoint.requests();
    clock += 3 * DAY;
    await test.app.tokenKeeper.sweep({ spreadOverMs: 0 });
    expect(endpoint.requests()).toBe(requests);

    const listed = (await test.app.inject({ method: 'GET', url: '/connections?connectionId=failing' })).json().connections;
    expect(listed).toEqual([expect.objectContaining({ errors: [{ type: 'auth', log_id: '' }], health: expect.objectContaining({ state: 'given_up' }) })]);
    const dashboard = (await test.app.inject({ method: 'GET', url: '/api/v1/connection?status=needs_attention' })).json().connections as { connectionId: string; health: string }[];
    expect(dashboard).toContainEqual(expect.objectContaining({ connectionId: 'failing', health: 'given_up' }));
    expect(dashboard.map((item) => item.connectionId)).not.toContain('far-from-expiry');
  });

  it('counts connections by health and the keeper\'s refreshes by outcome in /metrics', async () => {
    const text = (await test.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^custody_connections_by_health\{health="given_up"\} 1$/m);
    expect(text).toMatch(/^custody_connections_by_health\{health="expired"\} \d+$/m);
    expect(text).toMatch(/^custody_keeper_refreshes_total\{outcome="gave_up"\} 1$/m);
    expect(text).toMatch(/^custody_keeper_refreshes_total\{outcome="failed"\} \d+$/m);
    expect(text).toMatch(/^custody_keeper_lag_seconds \d/m);
  });

  it('starts over when the operator refreshes it by hand once the provider works: healthy, on the schedule, and the app told success: true', async () => {
    endpoint.outage = false;
    const before = refreshWebhooks('failing').length;
    const refreshed = await test.app.inject({ method: 'POST', url: `/api/v1/connection/failing/refresh?provider_config_key=${KEY}` });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(refreshed.json().connection).toMatchObject({ health: 'healthy', healthSince: null, refreshAttempts: 0, refreshDueAt: expect.any(String) });
    await waitForWebhooks('failing', before + 1);
    expect(refreshWebhooks('failing').slice(before)).toEqual([expect.objectContaining({ success: true })]);
    expect(endpoint.rotations(grant())).toBe(1);
    const shown = (await test.app.inject({ method: 'GET', url: `/connections/failing?provider_config_key=${KEY}` })).json();
    expect(shown).toMatchObject({ errors: [], health: { state: 'healthy', since: null } });
  });
});

describe('the keeper off', () => {
  it('with NANGO_REFRESH_SWEEP_SECONDS=0 refreshes nothing in the background, and says so at start', async () => {
    clock = Date.now();
    const test = await appWith({ NANGO_REFRESH_SWEEP_SECONDS: '0' });
    const grant = endpoint.grant();
    await importConnection(test, 'keeper-off', grant, new Date(Date.now() - 60_000));
    await sleep(2_500);
    expect(endpoint.rotations(grant)).toBe(0);
    expect(test.logs.join('')).toContain('The token keeper is off (NANGO_REFRESH_SWEEP_SECONDS=0)');
    // A read still refreshes it.
    const read = await test.app.inject({ method: 'GET', url: `/connection/keeper-off?provider_config_key=${KEY}` });
    expect(read.statusCode).toBe(200);
    expect(endpoint.rotations(grant)).toBe(1);
  });
});

describe('the claim at scale', () => {
  const CONNECTIONS = 100_000;

  beforeAll(async () => {
    // 1 % due (in the past), the rest spread over the coming month; a tenth not renewable (no due time).
    await database.knex.raw(
      `INSERT INTO _nango_connections (provider_config_key, connection_id, credentials, account_id, created_at, updated_at, refresh_due_at)
       SELECT ?, 'scale-' || n, json_build_object('type', 'OAUTH2', 'access_token', 'token-' || n), 0, now(), now(),
              CASE WHEN n % 100 = 0 THEN now() - (n || ' seconds')::interval WHEN n % 10 = 1 THEN NULL ELSE now() + (n || ' seconds')::interval END
       FROM generate_series(1, ?) AS n`,
      [KEY, CONNECTIONS],
    );
    await database.knex.raw('ANALYZE _nango_connections');
  }, 120_000);

  async function plan(sql: string, bindings: unknown[]): Promise<string> {
    const client = new pg.Client({ ...database.connection, options: '-c search_path=nango,public' });
    await client.connect();
    try {
      const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, bindings);
      return result.rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await client.end();
    }
  }

  it('finds the due connections through the index on the due time, without reading the table from end to end', async () => {
    const horizon = new Date();
    const claim = await plan(
      `UPDATE _nango_connections SET refresh_due_at = $1 WHERE id IN (SELECT id FROM _nango_connections WHERE refresh_due_at <= $2 AND account_id = $3 ORDER BY refresh_due_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING provider_config_key, connection_id`,
      [new Date(Date.now() + HOUR), horizon, 0, 10],
    );
    expect(claim).toContain('_custody_connections_refresh_due');
    expect(claim).not.toMatch(/Seq Scan on _nango_connections/);
    const due = await plan(`SELECT count(*)::int AS due, min(refresh_due_at) AS earliest FROM _nango_connections WHERE refresh_due_at <= $1 AND account_id = $2`, [horizon, 0]);
    expect(due).toContain('_custody_connections_refresh_due');
    expect(due).not.toMatch(/Seq Scan on _nango_connections/);
  });
});
