import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { bearerAuth, buildTestApp, type TestApp } from './support/test-app.js';

/**
 * `GET /connections` pages by offset (`page`, `limit`) as Nango does, and by cursor: every answer with more
 * connections after it carries `Link: <…cursor=…>; rel="next"`, the body keeping its shape. A cursor walk sees every
 * connection once, in the same newest-first order, even among connections created in the same microsecond, and
 * connections created meanwhile never shift the pages still to come.
 */
const SECRET = 'sk-list-paging';
const AUTH = { authorization: bearerAuth(SECRET) };
let database: TestDatabase;
let test: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET });
  await database.knex('_nango_configs').insert([
    { unique_key: 'alpha', provider: 'github', oauth_client_id: 'a', oauth_client_secret: 'a', account_id: 0 },
    { unique_key: 'beta', provider: 'github', oauth_client_id: 'b', oauth_client_secret: 'b', account_id: 0 },
  ]);
  // 150 connections created in one statement (one created_at: only the id tells them apart), 100 one second apart.
  await database.knex.raw(`
    INSERT INTO nango._nango_connections (provider_config_key, connection_id, account_id, credentials, created_at, updated_at)
    SELECT CASE WHEN n % 2 = 0 THEN 'alpha' ELSE 'beta' END, 'same-' || n, 0, '{}', now() - interval '1 hour', now() FROM generate_series(1, 150) n`);
  await database.knex.raw(`
    INSERT INTO nango._nango_connections (provider_config_key, connection_id, account_id, credentials, created_at, updated_at)
    SELECT CASE WHEN n % 2 = 0 THEN 'alpha' ELSE 'beta' END, 'spread-' || n, 0, '{}', now() - n * interval '1 second', now() FROM generate_series(1, 100) n`);
});

afterAll(async () => {
  await test?.close();
  await database?.drop();
});

interface Page {
  ids: string[];
  next: string | undefined;
}

async function page(url: string): Promise<Page> {
  const response = await test.app.inject({ method: 'GET', url, headers: AUTH });
  expect(response.statusCode).toBe(200);
  const body = response.json<{ connections: { connection_id: string }[] }>();
  expect(Object.keys(body)).toEqual(['connections']);
  const link = response.headers['link'];
  const next = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
  return { ids: body.connections.map((connection) => connection.connection_id), next };
}

async function walk(first: string): Promise<string[][]> {
  const pages: string[][] = [];
  let url: string | undefined = first;
  while (url) {
    const { ids, next } = await page(url);
    pages.push(ids);
    url = next;
  }
  return pages;
}

async function byOffset(query: string, limit: number): Promise<string[]> {
  const all: string[] = [];
  for (let number = 0; ; number++) {
    const { ids } = await page(`/connections?${query}limit=${limit}&page=${number}`);
    all.push(...ids);
    if (ids.length < limit) return all;
  }
}

describe('GET /connections by cursor', () => {
  it('walks every connection once, in the order offset pages give, and the last page has no next link', async () => {
    const pages = await walk('/connections?limit=100');
    expect(pages.map((ids) => ids.length)).toEqual([100, 100, 50]);
    const walked = pages.flat();
    expect(new Set(walked).size).toBe(250);
    expect(walked).toEqual(await byOffset('', 100));
  });

  it('keeps the filters of the first request on every next page', async () => {
    const walked = (await walk('/connections?integrationId=alpha&limit=30')).flat();
    expect(walked).toHaveLength(125);
    expect(walked).toEqual(await byOffset('integrationId=alpha&', 30));
  });

  it('is not shifted by connections created during the walk', async () => {
    const first = await page('/connections?limit=100');
    const expected = (await walk(first.next as string)).flat();
    await database.knex('_nango_connections').insert({ provider_config_key: 'alpha', connection_id: 'newcomer', account_id: 0, credentials: '{}' });
    expect((await walk(first.next as string)).flat()).toEqual(expected);
    expect((await page('/connections?limit=1')).ids).toEqual(['newcomer']);
    await database.knex('_nango_connections').where({ connection_id: 'newcomer' }).delete();
  });

  it('refuses a cursor it did not hand out, naming the parameter', async () => {
    const response = await test.app.inject({ method: 'GET', url: '/connections?cursor=bm90LWEtY3Vyc29y', headers: AUTH });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'invalid_query_params' } });
    expect(response.body).toContain('cursor');
  });

  it('refuses a page number and a cursor together', async () => {
    const { next } = await page('/connections?limit=10');
    const response = await test.app.inject({ method: 'GET', url: `${next as string}&page=2`, headers: AUTH });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('cursor');
  });
});

describe('GET /connection (the seed list, unpaged)', () => {
  it('answers every connection in one JSON body of the seed shape, oldest id first, however many batches it is read in', async () => {
    await database.knex.raw(`
      INSERT INTO nango._nango_connections (provider_config_key, connection_id, account_id, credentials, created_at, updated_at)
      SELECT 'alpha', 'many-' || n, 0, '{}', now(), now() FROM generate_series(1, 2100) n`);
    const response = await test.app.inject({ method: 'GET', url: '/connection', headers: AUTH });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = response.json<{ connections: { id: number; connection_id: string; provider: string; created: string }[] }>();
    expect(Object.keys(body)).toEqual(['connections']);
    expect(body.connections).toHaveLength(2350);
    const ids = body.connections.map((connection) => connection.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const stored = await database.knex('_nango_connections').where({ connection_id: 'many-1' }).first<{ id: number; created_at: Date }>('id', 'created_at');
    const streamed = body.connections.find((connection) => connection.connection_id === 'many-1');
    expect(streamed).toMatchObject({ id: stored?.id, connection_id: 'many-1', provider: 'alpha', created: stored?.created_at.toISOString(), provider_config_key: 'alpha' });
    // Row for row what the same list answers unstreamed (filtered to one connection).
    const single = await test.app.inject({ method: 'GET', url: '/connection?connectionId=many-1', headers: AUTH });
    expect(single.json().connections).toEqual([streamed]);
  });
});
