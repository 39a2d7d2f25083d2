import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { checkOutOlderRelease, type OlderRelease } from './support/older-release.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { pacedReads } from './support/paced-reads.js';

/**
 * An upgrade as a rolling one does it: a database last migrated by an older release, built from git, is
 * migrated by this release while a process of the older one goes on serving it. The older release is the
 * merge of the database-fault hardening (issue 18), before migration 20260201 (an integration's pinned_host).
 */
const OLDER_RELEASE = '353bdea59f8340072a6517d242b9b5733a59ed35';
const NEW_MIGRATION = '20260201000000_integration_pinned_host';
const KEY = 'sk-upgrade';
const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

/** What the older release is asked to store: integrations and connections of every credential shape it imports. */
const INTEGRATIONS = [
  { provider_config_key: 'github', provider: 'github', oauth_client_id: 'gh-client', oauth_client_secret: 'gh-secret-upgrade', oauth_scopes: 'repo,user' },
  { provider_config_key: 'slack', provider: 'slack', oauth_client_id: 'slack-client', oauth_client_secret: 'slack-secret-upgrade', oauth_scopes: 'chat:write' },
  { provider_config_key: 'twitter', provider: 'twitter', oauth_client_id: 'tw-consumer', oauth_client_secret: 'tw-consumer-secret', oauth_scopes: 'read' },
];
/** Created through the modern API (an API key integration has no OAuth app). */
const MODERN_INTEGRATIONS = [{ unique_key: 'openai', provider: 'openai' }];
const CONNECTIONS = [
  { provider_config_key: 'github', connection_id: 'oauth2-user', credentials: { type: 'OAUTH2', access_token: 'gho-upgrade-access', refresh_token: 'ghr-upgrade-refresh', expires_at: '2099-01-01T00:00:00.000Z', raw: { token_type: 'bearer' } }, metadata: { plan: 'team' }, tags: { team: 'blue' } },
  { provider_config_key: 'slack', connection_id: 'slack-user', credentials: { type: 'OAUTH2', access_token: 'xoxb-upgrade-access' }, connection_config: { team_id: 'T123' } },
  { provider_config_key: 'twitter', connection_id: 'oauth1-user', credentials: { type: 'OAUTH1', oauth_token: 'tw-token', oauth_token_secret: 'tw-token-secret' } },
  { provider_config_key: 'openai', connection_id: 'api-key-user', credentials: { type: 'API_KEY', apiKey: 'sk-openai-upgrade' }, end_user: { id: 'end-user-7', email: 'ada@example.com' } },
];
/** The reads whose answers come from stored rows: the same bytes must come back from the new release. */
const READS = [
  ...INTEGRATIONS.map((integration) => `/config/${integration.provider_config_key}`),
  ...MODERN_INTEGRATIONS.map((integration) => `/config/${integration.unique_key}`),
  ...CONNECTIONS.map((connection) => `/connection/${connection.connection_id}?provider_config_key=${connection.provider_config_key}`),
  ...CONNECTIONS.map((connection) => `/connections/${connection.connection_id}?provider_config_key=${connection.provider_config_key}&refresh_token=true`),
];

// The older release is built from this clone's history; .ci/run fetches it when the clone is shallow. A clone
// that still lacks it cannot run this file, and says so rather than failing every other spec's run.
const HISTORY_PRESENT = spawnSync('git', ['cat-file', '-e', `${OLDER_RELEASE}^{commit}`], { cwd: PACKAGE_ROOT }).status === 0;
if (!HISTORY_PRESENT) console.warn(`SKIPPED test/upgrade-from-older-release.test.ts: commit ${OLDER_RELEASE} is not in this clone (git fetch --unshallow).`);

describe.skipIf(!HISTORY_PRESENT)('a database last migrated by an older release', () => {
  let release: OlderRelease;
  let database: TestDatabase;
  let older: ServerProcess | undefined;
  let newer: ServerProcess | undefined;
  let env: Record<string, string>;
  let oldAnswers: Record<string, unknown>;
  let oldRows: Record<string, Record<string, unknown>[]>;

  beforeAll(async () => {
    release = checkOutOlderRelease(OLDER_RELEASE);
    database = await createTestDatabase({ migrated: false });
    env = { NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: KEY, NANGO_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TELEMETRY: 'false' };
    older = await startServerProcess(env, 90_000, release.entry);
    for (const integration of INTEGRATIONS) {
      const created = await fetch(`${older.baseUrl}/config`, { method: 'POST', headers: auth, body: JSON.stringify(integration) });
      expect(created.status, await created.clone().text()).toBe(200);
    }
    for (const integration of MODERN_INTEGRATIONS) {
      const created = await fetch(`${older.baseUrl}/integrations`, { method: 'POST', headers: auth, body: JSON.stringify(integration) });
      expect(created.status, await created.clone().text()).toBe(200);
    }
    for (const connection of CONNECTIONS) {
      const imported = await fetch(`${older.baseUrl}/connections`, { method: 'POST', headers: auth, body: JSON.stringify(connection) });
      expect(imported.status, await imported.clone().text()).toBe(201);
    }
    const session = await fetch(`${older.baseUrl}/connect/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ end_user: { id: 'end-user-8' }, allowed_integrations: ['github'] }) });
    expect(session.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([older?.stop('SIGKILL'), newer?.stop('SIGKILL')]);
    await database?.drop();
  });

  it('was migrated by the older release itself, which lacks the new migration', async () => {
    const applied = (await database.knex('nango._custody_migrations').pluck('name')) as string[];
    expect(applied.length).toBeGreaterThan(5);
    expect(applied).not.toContain(`${NEW_MIGRATION}.ts`);
    expect(applied).not.toContain(`${NEW_MIGRATION}.js`);
  });

  it('is migrated by this release at its start while the older release answers every read meanwhile', async () => {
    oldAnswers = await answersOf(older as ServerProcess);
    oldRows = await rowsOf(database);
    const reads = pacedReads(READS.map((path) => `${(older as ServerProcess).baseUrl}${path}`), auth, 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    newer = await startServerProcess(env);
    expect(newer.output()).toContain(`Database migrated: ${NEW_MIGRATION}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const outcome = await reads.stop();
    expect(outcome.failures).toEqual([]);
    expect(outcome.answered).toBeGreaterThan(10);
  }, 120_000);

  it('keeps every row the older release wrote, column for column', async () => {
    const now = await rowsOf(database);
    for (const [table, rows] of Object.entries(oldRows)) {
      const columns = Object.keys(rows[0] ?? {});
      const kept = (now[table] ?? []).slice(0, rows.length).map((row) => Object.fromEntries(columns.map((column) => [column, row[column]])));
      expect({ table, rows: kept }).toEqual({ table, rows });
    }
  });

  it('reads every integration and connection back through this release as the older release answered (fields it adds aside)', async () => {
    const answers = await answersOf(newer as ServerProcess);
    // Every field the older release answered, with the same value, except the storage details and refresh
    // bookkeeping its seed read leaked from the raw row (dropped on purpose, as Nango's spec answers that read;
    // the modern read carries webhook_url_override); this release adds pinned_host to integrations.
    const expected = Object.fromEntries(Object.entries(oldAnswers).map(([path, answer]) => [path, path.startsWith('/connection/') ? withoutFields(answer, [...STORAGE_DETAILS, 'webhook_url_override']) : answer]));
    expect(answers).toMatchObject(expected);
    for (const [path, answer] of Object.entries(answers)) {
      if (!path.startsWith('/connection/')) continue;
      for (const field of STORAGE_DETAILS) expect(JSON.stringify(answer), path).not.toContain(`"${field}"`);
    }
    expect(answers[`/config/github`]).toMatchObject({ body: { config: { pinned_host: null } } });
  });

  it('still lets the older release write after the migration, and this release reads what it wrote', async () => {
    const connection = { provider_config_key: 'github', connection_id: 'written-after', credentials: { type: 'OAUTH2', access_token: 'gho-written-after', expires_at: '2099-01-01T00:00:00.000Z' } };
    const imported = await fetch(`${(older as ServerProcess).baseUrl}/connections`, { method: 'POST', headers: auth, body: JSON.stringify(connection) });
    expect(imported.status).toBe(201);
    const read = await fetch(`${(newer as ServerProcess).baseUrl}/connection/written-after?provider_config_key=github`, { headers: auth });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { credentials: { access_token: string } }).credentials.access_token).toBe('gho-written-after');
  });
});

/** What the older release's seed read answered of the stored row's internals, which this release leaves out. */
const STORAGE_DETAILS = ['account_id', 'credentials_iv', 'credentials_tag', 'last_refresh_error', 'last_refresh_failure', 'last_refresh_success', 'refresh_attempts'];

function withoutFields(value: unknown, fields: string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutFields(item, fields));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !fields.includes(key)).map(([key, item]) => [key, withoutFields(item, fields)]));
}

async function answersOf(server: ServerProcess): Promise<Record<string, unknown>> {
  const answers: Record<string, unknown> = {};
  for (const path of READS) {
    const response = await fetch(`${server.baseUrl}${path}`, { headers: auth });
    // last_fetched_at is the moment of the answer (wire-format.ts), not a stored value.
    answers[path] = { status: response.status, body: JSON.parse(JSON.stringify(await response.json()).replace(/"last_fetched_at":"[^"]*"/g, '"last_fetched_at":"(the moment of the answer)"')) };
  }
  return answers;
}

/** Every table of schema nango, oldest row first (by its first column, the id where there is one). */
async function rowsOf(database: TestDatabase): Promise<Record<string, Record<string, unknown>[]>> {
  const tables = (await database.knex('information_schema.tables').where({ table_schema: 'nango', table_type: 'BASE TABLE' }).pluck('table_name')) as string[];
  const rows: Record<string, Record<string, unknown>[]> = {};
  for (const table of tables.sort()) rows[table] = JSON.parse(JSON.stringify((await database.knex.raw(`SELECT * FROM nango."${table}" ORDER BY 1`)).rows)) as Record<string, unknown>[];
  return rows;
}
