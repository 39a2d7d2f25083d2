import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, SCHEMA } from '../src/db/database.js';
import { FIND_MANY_WITH_INTEGRATION } from '../src/store/connection-rows.js';
import { ConfigsStore } from '../src/store/configs-store.js';
import { ConnectionsStore } from '../src/store/connections-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/**
 * Without the connection cache every credential read looks its connection up in PostgreSQL; reads arriving
 * together share one statement, yet each is answered with its own connection and is as fresh as a statement of
 * its own: it never joins a lookup already sent, so it sees every change committed before it arrived.
 */
let database: TestDatabase;
let configs: ConfigsStore;

beforeAll(async () => {
  database = await createTestDatabase();
  configs = new ConfigsStore(database.knex, undefined);
  await configs.insert('api', { provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: null });
  const writer = new ConnectionsStore(database.knex, undefined);
  for (const connectionId of ['ada', 'grace', 'alan']) {
    await writer.upsert({ provider_config_key: 'api', connection_id: connectionId, credentials: { type: 'API_KEY', apiKey: `key-of-${connectionId}` }, connection_config: {}, metadata: {} });
  }
  // A connection whose integration is gone: found, without an integration.
  await writer.upsert({ provider_config_key: 'gone', connection_id: 'ada', credentials: { type: 'API_KEY', apiKey: 'orphan' }, connection_config: {}, metadata: {} });
});

afterAll(async () => {
  await database?.drop();
});

/** The lookup statements the store sends while `run` runs, with their keys. */
async function lookupsDuring<T>(run: () => Promise<T>): Promise<{ result: T; lookups: string[][] }> {
  const lookups: string[][] = [];
  const listener = (query: { sql: string; bindings?: unknown[] }): void => {
    if (query.sql.includes('AS custody_wanted')) lookups.push(((query.bindings?.[1] ?? []) as string[]).slice());
  };
  database.knex.on('query', listener);
  try {
    return { result: await run(), lookups };
  } finally {
    database.knex.off('query', listener);
  }
}

function apiKeyOf(found: Awaited<ReturnType<ConnectionsStore['findWithIntegration']>>): string | undefined {
  const credentials = found?.connection.credentials;
  return credentials?.type === 'API_KEY' ? credentials.apiKey : undefined;
}

describe('connection lookups', () => {
  it('answer reads that arrive together with one statement, each with its own connection', async () => {
    const store = new ConnectionsStore(database.knex, undefined);
    const { result, lookups } = await lookupsDuring(() =>
      Promise.all([
        store.findWithIntegration('api', 'ada'),
        store.findWithIntegration('api', 'grace'),
        store.findWithIntegration('api', 'nobody'),
        store.findWithIntegration('gone', 'ada'),
        store.findWithIntegration('api', 'alan'),
      ]),
    );
    expect(lookups).toHaveLength(1);
    const [ada, grace, nobody, orphan, alan] = result;
    expect([apiKeyOf(ada), apiKeyOf(grace), apiKeyOf(alan)]).toEqual(['key-of-ada', 'key-of-grace', 'key-of-alan']);
    expect(ada?.config?.unique_key).toBe('api');
    expect(nobody).toBeUndefined();
    expect(apiKeyOf(orphan)).toBe('orphan');
    expect(orphan?.config).toBeUndefined();
  });

  it('give each read the connection and its integration exactly as a query of their own rows reads them: every column, times as Dates', async () => {
    const store = new ConnectionsStore(database.knex, undefined);
    await store.upsert({
      provider_config_key: 'api',
      connection_id: 'every-field',
      credentials: { type: 'API_KEY', apiKey: 'key "quoted" \\ ünïcode 🔑' },
      connection_config: { subdomain: 'acme', nested: { list: [1, 'two', null, true] } },
      metadata: { note: 'line\nbreak', count: 3 },
      end_user: { id: 'end-user-1', email: 'ada@example.com', organization: { id: 'org-1', display_name: 'Org' } },
      tags: { team: 'core' },
      webhook_url_override: 'https://hooks.example.com/custody',
    });
    await database.knex(`${SCHEMA}._nango_connections`).where({ connection_id: 'every-field' }).update({
      created_at: database.knex.raw(`timestamptz '2020-02-29 23:59:59.123456+05:30'`),
      credentials_expires_at: database.knex.raw(`timestamptz '2031-01-01 00:00:00.5+00'`),
      last_refresh_success: database.knex.raw(`timestamptz '1999-12-31 23:59:59+00'`),
      last_refresh_failure: database.knex.raw('now()'),
      last_refresh_error: 'invalid_grant',
      refresh_attempts: 2,
      refresh_due_at: database.knex.raw(`now() + interval '1 hour'`),
      refresh_failing_since: database.knex.raw(`now() - interval '1 day'`),
      refresh_given_up_at: database.knex.raw('now()'),
    });
    const found = await store.findWithIntegration('api', 'every-field');
    expect(found?.connection).toEqual(await store.find('api', 'every-field'));
    expect(found?.config).toEqual({ ...(await configs.find('api')) });
    expect(found?.connection.created_at).toEqual(new Date('2020-02-29T18:29:59.123Z'));
    expect(found?.connection.refresh_given_up_at).toBeInstanceOf(Date);
    expect(found?.config?.created_at).toBeInstanceOf(Date);
  });

  it('ask for a connection wanted by several reads at once only once, and give each read a record of its own', async () => {
    const store = new ConnectionsStore(database.knex, undefined);
    const { result, lookups } = await lookupsDuring(() => Promise.all([store.findWithIntegration('api', 'ada'), store.findWithIntegration('api', 'ada')]));
    expect(lookups).toEqual([['ada']]);
    expect(apiKeyOf(result[0])).toBe('key-of-ada');
    expect(result[0]?.connection).not.toBe(result[1]?.connection);
    expect(result[0]?.connection.credentials).toEqual(result[1]?.connection.credentials);
  });

  it('never let a read join a lookup already sent: it sees a change committed while that lookup was under way', async () => {
    const store = new ConnectionsStore(database.knex, undefined);
    const writer = new ConnectionsStore(database.knex, undefined);
    // Another session holds the integrations table, so the first lookup stays under way until it lets go.
    const holder = await database.knex.transaction();
    await holder.raw(`LOCK TABLE ${SCHEMA}._nango_configs IN ACCESS EXCLUSIVE MODE`);
    const { result, lookups } = await lookupsDuring(async () => {
      const first = store.findWithIntegration('api', 'grace');
      await waitUntil(async () => (await blockedLookups()) > 0);
      await writer.upsert({ provider_config_key: 'api', connection_id: 'grace', credentials: { type: 'API_KEY', apiKey: 'rotated' }, connection_config: {}, metadata: {} });
      const second = store.findWithIntegration('api', 'grace');
      await holder.commit();
      return Promise.all([first, second]);
    });
    expect(lookups).toEqual([['grace'], ['grace']]);
    expect(apiKeyOf(result[1])).toBe('rotated');
  });

  it('are planned once per pooled connection, not again on every lookup', async () => {
    // One pooled connection, so the statement counts below are those of the connection every lookup ran on.
    const knex = createKnex(database.connection, 1, 1);
    try {
      const store = new ConnectionsStore(knex, undefined);
      for (let lookup = 0; lookup < 20; lookup++) expect(apiKeyOf(await store.findWithIntegration('api', lookup % 2 ? 'ada' : 'alan'))).toMatch(/^key-of-/);
      const { rows } = (await knex.raw(`SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name = ?`, [FIND_MANY_WITH_INTEGRATION.name])) as {
        rows: { generic_plans: number; custom_plans: number }[];
      };
      // PostgreSQL plans a prepared statement for its values five times before it may keep one plan for all values.
      expect(rows).toEqual([{ generic_plans: 15, custom_plans: 5 }]);
    } finally {
      await knex.destroy();
    }
  });

  it('fail every read of a lookup that failed, and answer the next ones', async () => {
    const store = new ConnectionsStore(database.knex, undefined);
    const holder = await database.knex.transaction();
    await holder.raw(`LOCK TABLE ${SCHEMA}._nango_configs IN ACCESS EXCLUSIVE MODE`);
    const reads = Promise.allSettled([store.findWithIntegration('api', 'ada'), store.findWithIntegration('api', 'alan')]);
    await waitUntil(async () => (await blockedLookups()) > 0);
    // Ends the waiting lookup's statement with an error, as a database restart or a statement timeout would.
    await database.knex.raw(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%custody_wanted%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
    await holder.rollback();
    const outcomes = await reads;
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(apiKeyOf(await store.findWithIntegration('api', 'ada'))).toBe('key-of-ada');
  });
});

async function blockedLookups(): Promise<number> {
  const { rows } = (await database.knex.raw(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%custody_wanted%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
  )) as { rows: { n: number }[] };
  return rows[0]?.n ?? 0;
}

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('The condition did not come true within 5 s.');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
