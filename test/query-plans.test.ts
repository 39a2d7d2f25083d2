import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { FIND_MANY_WITH_INTEGRATION } from '../src/store/connection-rows.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * With tens of thousands of connections, reading one is an index lookup and a page of a list reads about a
 * page: the plans PostgreSQL chooses for the very queries the server sends (captured from knex while the
 * route runs) never read the connections table from end to end.
 */
const CONNECTIONS = 20_000;
const auth = { authorization: 'Bearer sk-plans' };

let database: TestDatabase;
let test: TestApp;

interface CapturedQuery {
  sql: string;
  bindings: readonly unknown[];
}

beforeAll(async () => {
  database = await createTestDatabase();
  // Without the connection cache: every read must reach the database for its statements to be seen.
  test = await buildTestApp(database, { NANGO_SECRET_KEY: 'sk-plans', NANGO_CONNECTION_CACHE_SIZE: '0' });
  const create = await test.app.inject({
    method: 'POST',
    url: '/config',
    headers: auth,
    payload: { provider_config_key: 'github-prod', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'csecret', oauth_scopes: 'repo' },
  });
  expect(create.statusCode).toBe(200);
  await database.knex.raw(
    `INSERT INTO _nango_connections (provider_config_key, connection_id, credentials, account_id, created_at, updated_at, end_user)
     SELECT 'github-prod', 'user-' || n, json_build_object('type', 'OAUTH2', 'access_token', 'token-' || n, 'expires_at', '2099-01-01T00:00:00.000Z'), 0,
            now() - n * interval '1 second', now(), jsonb_build_object('id', 'end-user-' || n)
     FROM generate_series(1, ?) AS n`,
    [CONNECTIONS],
  );
  await database.knex.raw('ANALYZE _nango_connections');
}, 120_000);

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

/** Runs the request and returns the SELECTs on the connections table that it sent. */
async function connectionQueriesOf(url: string): Promise<CapturedQuery[]> {
  const captured: CapturedQuery[] = [];
  const listener = (query: { sql: string; bindings?: readonly unknown[] }): void => {
    if (/^\s*select/i.test(query.sql) && query.sql.includes('_nango_connections')) captured.push({ sql: query.sql, bindings: query.bindings ?? [] });
  };
  database.knex.on('query', listener);
  try {
    const response = await test.app.inject({ method: 'GET', url, headers: auth });
    expect(response.statusCode, response.body.slice(0, 300)).toBe(200);
  } finally {
    database.knex.off('query', listener);
  }
  expect(captured.length, `no query on _nango_connections for ${url}`).toBeGreaterThan(0);
  return captured;
}

/** EXPLAIN on a plain client: knex hands out the SQL with pg's `$n` placeholders, which knex.raw would not read. */
async function planOf(query: CapturedQuery): Promise<string> {
  const client = new pg.Client({ ...database.connection, options: '-c search_path=nango,public' });
  await client.connect();
  try {
    const result = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${query.sql}`, [...query.bindings]);
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.end();
  }
}

async function plansOf(url: string): Promise<string[]> {
  return Promise.all((await connectionQueriesOf(url)).map(planOf));
}

describe(`with ${CONNECTIONS} connections`, () => {
  it.each([
    ['the seed read', '/connection/user-12345?provider_config_key=github-prod'],
    ['the modern read', '/connections/user-12345?provider_config_key=github-prod'],
    ['the dashboard read', '/api/v1/connection/user-12345?provider_config_key=github-prod'],
  ])('%s of one connection uses an index, never a sequential scan', async (_name, url) => {
    for (const plan of await plansOf(url)) {
      expect(plan).not.toMatch(/Seq Scan on _nango_connections/);
      expect(plan).toMatch(/Index (Only )?Scan/);
    }
  });

  it('the lookup credential reads share probes the index in the plan PostgreSQL makes once and keeps for every lookup', async () => {
    // The plan a pooled connection keeps after five lookups (src/store/connection-rows.ts), not one made for given keys.
    const plan = await planOf({ sql: `(GENERIC_PLAN) ${FIND_MANY_WITH_INTEGRATION.text}`, bindings: [] });
    expect(plan).not.toMatch(/Seq Scan on _nango_connections/);
    expect(plan).toMatch(/Index (Only )?Scan .* on _nango_connections/);
  });

  it.each([
    ['the modern list', '/connections?limit=20'],
    ['the modern list, page 50', '/connections?limit=20&page=50'],
    ['the dashboard list', '/api/v1/connection?limit=20'],
  ])('%s reads a page through an index, without sorting the whole table', async (_name, url) => {
    // The dashboard also counts the matches for its pager: a count reads them all by nature, so only pages are held to this.
    const pages = (await connectionQueriesOf(url)).filter((query) => !/\bcount\(/i.test(query.sql));
    expect(pages.length).toBeGreaterThan(0);
    for (const plan of await Promise.all(pages.map(planOf))) {
      expect(plan).not.toMatch(/Seq Scan on _nango_connections/);
      expect(plan).not.toMatch(/Sort/);
    }
  });

  it('the modern list, deep in by cursor, seeks its page through the index, without sorting or skipping rows', async () => {
    const link = (await test.app.inject({ method: 'GET', url: '/connections?limit=20&page=49', headers: auth })).headers['link'];
    const next = /^<([^>]+)>; rel="next"$/.exec(String(link))?.[1];
    expect(next).toBeDefined();
    for (const plan of await plansOf(next as string)) {
      expect(plan).not.toMatch(/Seq Scan on _nango_connections/);
      expect(plan).not.toMatch(/Sort/);
      expect(plan).toMatch(/Index Cond: .*created_at/);
    }
  });

  it.each([
    ['the seed list', '/connection?connectionId=user-777'],
    ['the modern list', '/connections?connectionId=user-777'],
  ])('%s filtered by connection id uses an index', async (_name, url) => {
    for (const plan of await plansOf(url)) expect(plan).not.toMatch(/Seq Scan on _nango_connections/);
  });
});
