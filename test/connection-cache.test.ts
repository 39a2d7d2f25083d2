import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionCache } from '../src/store/connection-cache.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * Connections kept in memory between reads: every process hears every change (its own at once, the others'
 * through NOTIFY), and trusts nothing it keeps while it cannot hear.
 */
let database: TestDatabase;
/** Two apps on one database, as two server processes; neither waits for notifications before a request. */
let first: TestApp;
let second: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  const env = { NANGO_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
  first = await buildTestApp(database, env, { waitForChangeNotifications: false });
  second = await buildTestApp(database, env, { waitForChangeNotifications: false });
  await Promise.all([untilListening(first), untilListening(second)]);
});

afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  await Promise.all([first.app.databaseNotifications.sync(), second.app.databaseNotifications.sync()]);
  const created = await first.app.inject({ method: 'POST', url: '/config', payload: { provider_config_key: 'api', provider: 'github', oauth_client_id: 'cid', oauth_client_secret: 'secret-1', oauth_scopes: 'repo' } });
  expect(created.statusCode).toBe(200);
  await importToken(first, 'user-1', 'token-1');
});

async function untilListening(test: TestApp): Promise<void> {
  for (let waited = 0; !test.app.databaseNotifications.listening; waited += 20) {
    if (waited > 10_000) throw new Error('The app never started listening for notifications.');
    await sleep(20);
  }
}

async function importToken(test: TestApp, connectionId: string, accessToken: string): Promise<void> {
  const response = await test.app.inject({
    method: 'POST',
    url: '/connection',
    payload: { connection_id: connectionId, provider_config_key: 'api', type: 'OAUTH2', access_token: accessToken, expires_at: '2099-01-01T00:00:00.000Z' },
  });
  expect(response.statusCode).toBe(201);
}

async function accessToken(test: TestApp, connectionId = 'user-1'): Promise<string | number> {
  const response = await test.app.inject({ method: 'GET', url: `/connection/${connectionId}?provider_config_key=api` });
  return response.statusCode === 200 ? (response.json() as { credentials: { access_token: string } }).credentials.access_token : response.statusCode;
}

/** The provider the modern API names for the connection: it comes from the integration kept beside the row. */
async function providerSeenBy(test: TestApp): Promise<string> {
  const response = await test.app.inject({ method: 'GET', url: '/connections/user-1?provider_config_key=api' });
  expect(response.statusCode).toBe(200);
  return (response.json() as { provider: string }).provider;
}

function editIntegration(test: TestApp, provider: string) {
  return test.app.inject({ method: 'PUT', url: '/config', payload: { provider_config_key: 'api', provider, oauth_client_id: 'cid', oauth_client_secret: 'secret-2', oauth_scopes: 'repo' } });
}

describe('one process', () => {
  it('reads its own writes at once: a re-imported token is the one read next', async () => {
    expect(await accessToken(first)).toBe('token-1');
    await importToken(first, 'user-1', 'token-2');
    expect(await accessToken(first)).toBe('token-2');
  });

  it('answers "unknown connection" at once for a connection it deleted', async () => {
    expect(await accessToken(first)).toBe('token-1');
    expect((await first.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=api' })).statusCode).toBe(200);
    expect(await accessToken(first)).toBe(400);
  });

  it('forgets the integration kept beside a connection when it edits that integration', async () => {
    expect(await providerSeenBy(first)).toBe('github');
    expect((await editIntegration(first, 'gitlab')).statusCode).toBe(200);
    expect(await providerSeenBy(first)).toBe('gitlab');
  });
});

describe('another process', () => {
  it('sees a token another process re-imported once that change is announced', async () => {
    expect(await accessToken(second)).toBe('token-1');
    await importToken(first, 'user-1', 'token-2');
    await second.app.databaseNotifications.sync();
    expect(await accessToken(second)).toBe('token-2');
  });

  it('stops handing out a connection another process deleted once that change is announced', async () => {
    expect(await accessToken(second)).toBe('token-1');
    await first.app.inject({ method: 'DELETE', url: '/connection/user-1?provider_config_key=api' });
    await second.app.databaseNotifications.sync();
    expect(await accessToken(second)).toBe(400);
  });

  it('sees a row changed with plain SQL (an operator, a migration) once that change is announced', async () => {
    expect(await accessToken(second)).toBe('token-1');
    await database.knex('_nango_connections').where({ connection_id: 'user-1' }).update({ connection_config: JSON.stringify({ subdomain: 'acme' }) });
    await second.app.databaseNotifications.sync();
    const response = await second.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=api' });
    expect(response.json()).toMatchObject({ connection_config: { subdomain: 'acme' } });
  });

  it('forgets everything when the connections table is truncated', async () => {
    expect(await accessToken(second)).toBe('token-1');
    await database.knex.raw('TRUNCATE nango._nango_connections');
    await second.app.databaseNotifications.sync();
    expect(await accessToken(second)).toBe(400);
  });

  it('sees an integration another process edited once that change is announced', async () => {
    expect(await providerSeenBy(second)).toBe('github');
    expect((await editIntegration(first, 'gitlab')).statusCode).toBe(200);
    await second.app.databaseNotifications.sync();
    expect(await providerSeenBy(second)).toBe('gitlab');
  });
});

describe('without notifications', () => {
  it('reads from the database while its listening connection is gone, and keeps rows again once it is back', async () => {
    expect(await accessToken(second)).toBe('token-1');
    // Both apps' listening connections (their last statement was a LISTEN or a sync's SELECT 1) are terminated.
    await database.knex.raw(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')`,
    );
    for (let waited = 0; second.app.databaseNotifications.listening; waited += 10) {
      if (waited > 5_000) throw new Error('The app did not notice that its listener was terminated.');
      await sleep(10);
    }
    await database.knex('_nango_connections').where({ connection_id: 'user-1' }).update({ connection_config: JSON.stringify({ changed: 'while deaf' }) });
    const whileDeaf = await second.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=api' });
    expect(whileDeaf.json()).toMatchObject({ connection_config: { changed: 'while deaf' } });

    await Promise.all([untilListening(first), untilListening(second)]);
    await importToken(first, 'user-1', 'token-after');
    await second.app.databaseNotifications.sync();
    expect(await accessToken(second)).toBe('token-after');
  });

  it('keeps nothing when NANGO_CONNECTION_CACHE_SIZE is 0', async () => {
    const uncached = await buildTestApp(database, { NANGO_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'), NANGO_CONNECTION_CACHE_SIZE: '0' }, { waitForChangeNotifications: false });
    try {
      expect(await accessToken(uncached)).toBe('token-1');
      await database.knex('_nango_connections').where({ connection_id: 'user-1' }).update({ connection_config: JSON.stringify({ seen: 'at once' }) });
      const response = await uncached.app.inject({ method: 'GET', url: '/connection/user-1?provider_config_key=api' });
      expect(response.json()).toMatchObject({ connection_config: { seen: 'at once' } });
    } finally {
      await uncached.close();
    }
  });
});

describe('the cache itself', () => {
  /** A stand-in for the listener: the spec says when notifications flow. */
  function followed(capacity = 10): { cache: ConnectionCache<string>; setListening(listening: boolean): void; announce(payload: string): void } {
    const cache = new ConnectionCache<string>(capacity);
    let channelHandler: (payload: string) => void = () => undefined;
    let listeningHandler: (listening: boolean) => void = () => undefined;
    cache.follow({ on: (_channel, handler) => (channelHandler = handler), onListening: (handler) => (listeningHandler = handler) });
    return { cache, setListening: (listening) => listeningHandler(listening), announce: (payload) => channelHandler(payload) };
  }

  it('does not keep a row read before a change whose notification arrived during the read', async () => {
    const { cache, setListening, announce } = followed();
    setListening(true);
    let finishLoad: (row: string) => void = () => undefined;
    const reading = cache.read('k', () => new Promise<string>((resolve) => (finishLoad = resolve)), () => true);
    announce(JSON.stringify(['api', 'someone-else']));
    finishLoad('old row');
    expect(await reading).toBe('old row');
    expect(await cache.read('k', async () => 'new row', () => true)).toBe('new row');
  });

  it('evicts the row a notification names, and everything on "*"', async () => {
    const { cache, setListening, announce } = followed();
    setListening(true);
    const key = JSON.stringify(['api', 'user-1']);
    await cache.read(key, async () => 'v1', () => true);
    await cache.read('other', async () => 'o1', () => true);
    announce('["api", "user-1"]');
    expect(await cache.read(key, async () => 'v2', () => true)).toBe('v2');
    expect(await cache.read('other', async () => 'o2', () => true)).toBe('o1');
    announce('*');
    expect(await cache.read('other', async () => 'o3', () => true)).toBe('o3');
  });

  it('keeps nothing before it listens, and forgets everything when listening stops', async () => {
    const { cache, setListening } = followed();
    await cache.read('k', async () => 'v1', () => true);
    expect(cache.size).toBe(0);
    setListening(true);
    await cache.read('k', async () => 'v2', () => true);
    expect(cache.size).toBe(1);
    setListening(false);
    expect(cache.size).toBe(0);
    expect(await cache.read('k', async () => 'v3', () => true)).toBe('v3');
    expect(cache.size).toBe(0);
  });

  it('drops the oldest row when full', async () => {
    const { cache, setListening } = followed(2);
    setListening(true);
    for (const key of ['a', 'b', 'c']) await cache.read(key, async () => key, () => true);
    expect(cache.size).toBe(2);
    expect(await cache.read('a', async () => 'a again', () => true)).toBe('a again');
    expect(await cache.read('c', async () => 'c again', () => true)).toBe('c');
  });
});
