import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { freePort } from './support/free-port.js';
import { PGBOUNCER_BINARY, startPgBouncer, type PgBouncer } from './support/pgbouncer.js';
import { openPopupSocket } from './support/popup-socket.js';
import { followUntil } from './support/redirect-walker.js';
import { runServerUntilExit, startServerProcess, type ServerProcess } from './support/server-process.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';

/**
 * Two server processes behind a real PgBouncer in transaction mode (Supabase's port 6543, RDS Proxy and
 * Supavisor behave alike): every transaction may run on another server connection, so nothing may rest on a
 * session. The pool is smaller than the two processes' pools together, so connections really are shared.
 */

const MIGRATIONS = readdirSync(path.join(PACKAGE_ROOT, 'migrations'))
  .filter((file) => /^\d+_[\w-]+\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
  .map((file) => file.replace(/\.(ts|js)$/, ''))
  .sort();
const auth = { authorization: 'Bearer secret', 'content-type': 'application/json' };
const FAR_FUTURE = '2099-01-01T00:00:00.000Z';

interface Fleet {
  database: TestDatabase;
  pgbouncer: PgBouncer;
  provider: AuthorizationServer;
  a: ServerProcess;
  b: ServerProcess;
}

/** PgBouncer, an OAuth provider and two processes started at the same moment, all stopped by `stopFleet` (also after a failed start). */
async function startFleet(options: { migrated: boolean; direct: boolean }, started: Partial<Fleet>): Promise<Fleet> {
  started.database = await createTestDatabase({ migrated: options.migrated });
  started.pgbouncer = await startPgBouncer({ poolSize: 4 });
  const portB = await freePort();
  const callbackUrl = `http://127.0.0.1:${portB}/oauth/callback`;
  started.provider = await startAuthorizationServer({ redirectUris: [callbackUrl] });
  const { file } = catalogWith({ 'oidc-test': oidcTestProvider(started.provider.issuer) });
  const env = {
    NANGO_DATABASE_URL: started.pgbouncer.urlOf(started.database.name),
    ...(options.direct ? { NANGO_DATABASE_DIRECT_URL: started.database.url } : {}),
    NANGO_SECRET_KEY: 'secret',
    NANGO_PROVIDERS_FILE: file,
    NANGO_CALLBACK_URL: callbackUrl,
  };
  const processes = await Promise.allSettled([startServerProcess(env), startServerProcess({ ...env, SERVER_PORT: String(portB) })]);
  if (processes[0].status === 'fulfilled') started.a = processes[0].value;
  if (processes[1].status === 'fulfilled') started.b = processes[1].value;
  const failure = processes.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return started as Fleet;
}

async function stopFleet(fleet: Partial<Fleet>): Promise<void> {
  await Promise.all([fleet.a?.stop(), fleet.b?.stop()]);
  await fleet.provider?.close();
  await fleet.pgbouncer?.stop();
  await fleet.database?.drop();
}

async function createIntegration(server: ServerProcess, provider: AuthorizationServer): Promise<void> {
  const response = await fetch(`${server.baseUrl}/config`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ provider_config_key: 'oidc', provider: 'oidc-test', oauth_client_id: provider.clientId, oauth_client_secret: provider.clientSecret, oauth_scopes: 'openid,offline_access' }),
  });
  expect(response.status).toBe(200);
}

function importConnection(server: ServerProcess, connectionId: string, accessToken: string): Promise<Response> {
  return fetch(`${server.baseUrl}/connection`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ connection_id: connectionId, provider_config_key: 'oidc', type: 'OAUTH2', access_token: accessToken, refresh_token: 'r', expires_at: FAR_FUTURE }),
  });
}

function readConnection(server: ServerProcess, connectionId: string): Promise<Response> {
  return fetch(`${server.baseUrl}/connection/${connectionId}?provider_config_key=oidc`, { headers: auth });
}

/** The popup's WebSocket on A, the provider's callback on B, as a load balancer may split them. */
async function connectThroughPopup(fleet: Fleet, connectionId: string): Promise<Record<string, unknown>> {
  const socket = await openPopupSocket(fleet.a.baseUrl);
  try {
    const start = await fetch(`${fleet.a.baseUrl}/oauth/connect/oidc?connection_id=${connectionId}&ws_client_id=${socket.id}`, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const walked = await followUntil(String(start.headers.get('location')), `${fleet.b.baseUrl}/oauth/callback`);
    const callback = await fetch(walked.url);
    expect(callback.status).toBe(200);
    return await socket.next;
  } finally {
    socket.close();
  }
}

/** Reads and writes over both processes at once; every status, to show that none is a 500. */
async function mixedLoad(fleet: Fleet, rounds: number): Promise<number[]> {
  for (let index = 0; index < 10; index++) expect((await importConnection(fleet.a, `load-${index}`, `token-${index}-0`)).status).toBe(201);
  const requests = Array.from({ length: rounds }, (_, index) => {
    const server = index % 2 === 0 ? fleet.a : fleet.b;
    const id = `load-${index % 10}`;
    if (index % 5 === 0) return importConnection(server, id, `token-${index % 10}-${index}`);
    if (index % 7 === 0) return fetch(`${server.baseUrl}/connection/${id}/metadata?provider_config_key=oidc`, { method: 'PATCH', headers: auth, body: JSON.stringify({ round: index }) });
    return readConnection(server, id);
  });
  return (await Promise.all(requests)).map((response) => response.status);
}

/** Polls `read` until it answers `status`, for at most `withinMs`; resolves with how long it took. */
async function untilStatus(read: () => Promise<Response>, status: number, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const response = await read();
    await response.arrayBuffer();
    if (response.status === status) return Date.now() - started;
    if (Date.now() - started > withinMs) throw new Error(`Still ${response.status} after ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(!PGBOUNCER_BINARY)('two processes behind PgBouncer in transaction mode, without a direct URL', () => {
  const fleet: Partial<Fleet> = {};
  let started: Fleet;

  beforeAll(async () => {
    started = await startFleet({ migrated: false, direct: false }, fleet);
    await createIntegration(started.a, started.provider);
  }, 120_000);

  afterAll(() => stopFleet(fleet));

  it('both start together on an empty database, and every migration ran exactly once', async () => {
    for (const server of [started.a, started.b]) expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
    const rows = (await started.database.knex('nango._custody_migrations').select('name').orderBy('id')) as { name: string }[];
    expect(rows.map((row) => row.name)).toEqual(MIGRATIONS);
    expect([started.a, started.b].filter((server) => /Database migrated/.test(server.output()))).toHaveLength(1);
  });

  it('says at start that it detected a transaction pooler, and what it gives up without a direct URL', () => {
    for (const server of [started.a, started.b]) {
      expect(server.output()).toMatch(/Database mode: transaction pooler \(detected: [^)]*\), without NANGO_DATABASE_DIRECT_URL/);
      expect(server.output()).toMatch(/the connection cache is off/);
      expect(server.output()).toMatch(/by polling/);
    }
  });

  it('answers 300 concurrent reads and writes over both processes without a single 500', async () => {
    const statuses = await mixedLoad(started, 300);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([200, 201]));
    expect(started.pgbouncer.log()).not.toMatch(/prepared statement/);
  });

  it('serves a change made through the other process at once, and never a deleted connection', async () => {
    expect((await importConnection(started.a, 'moving', 'before')).status).toBe(201);
    expect((await readConnection(started.a, 'moving')).status).toBe(200);
    expect((await importConnection(started.b, 'moving', 'after')).status).toBe(201);
    const changed = (await (await readConnection(started.a, 'moving')).json()) as { credentials: { access_token: string } };
    expect(changed.credentials.access_token).toBe('after');
    expect((await fetch(`${started.b.baseUrl}/connection/moving?provider_config_key=oidc`, { method: 'DELETE', headers: auth })).status).toBe(200);
    // The seed API answers 400 unkown_connection (sic) for a connection that does not exist, as Nango does.
    expect((await readConnection(started.a, 'moving')).status).toBe(400);
  });

  it('delivers an OAuth result to the popup held by one process when the provider calls the other back (by polling)', async () => {
    await expect(connectThroughPopup(started, 'popup-user')).resolves.toEqual({ message_type: 'success', provider_config_key: 'oidc', connection_id: 'popup-user', is_pending: false });
  });

  it('refreshes an expiring token exactly once for 20 concurrent reads over both processes', async () => {
    await connectThroughPopup(started, 'expiring-user');
    const row = await started.database.knex('nango._nango_connections').where({ connection_id: 'expiring-user' }).first();
    row.credentials.expires_at = new Date(Date.now() + 60_000).toISOString();
    await started.database.knex('nango._nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(row.credentials) });
    const before = started.provider.refreshGrants();
    const reads = await Promise.all(Array.from({ length: 20 }, (_, index) => readConnection(index % 2 === 0 ? started.a : started.b, 'expiring-user')));
    expect(reads.map((response) => response.status)).toEqual(Array(20).fill(200));
    const tokens = new Set(await Promise.all(reads.map(async (response) => ((await response.json()) as { credentials: { access_token: string } }).credentials.access_token)));
    expect(started.provider.refreshGrants()).toBe(before + 1);
    expect(tokens.size).toBe(1);
    expect(tokens.has(row.credentials.access_token)).toBe(false);
  });
});

describe.skipIf(!PGBOUNCER_BINARY)('two processes behind PgBouncer in transaction mode, with NANGO_DATABASE_DIRECT_URL', () => {
  const fleet: Partial<Fleet> = {};
  let started: Fleet;

  beforeAll(async () => {
    started = await startFleet({ migrated: false, direct: true }, fleet);
    await createIntegration(started.a, started.provider);
  }, 120_000);

  afterAll(() => stopFleet(fleet));

  it('both start together, migrating once over the direct connection', async () => {
    const rows = (await started.database.knex('nango._custody_migrations').select('name').orderBy('id')) as { name: string }[];
    expect(rows.map((row) => row.name)).toEqual(MIGRATIONS);
    expect([started.a, started.b].filter((server) => /Database migrated/.test(server.output()))).toHaveLength(1);
  });

  it('says at start that LISTEN/NOTIFY and migrations use the direct URL', () => {
    for (const server of [started.a, started.b]) {
      expect(server.output()).toMatch(/Database mode: transaction pooler \(detected: [^)]*\)\. No prepared statements or session state; migrations and LISTEN\/NOTIFY use NANGO_DATABASE_DIRECT_URL/);
    }
  });

  it('answers 300 concurrent reads and writes over both processes without a single 500', async () => {
    const statuses = await mixedLoad(started, 300);
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
    expect(new Set(statuses)).toEqual(new Set([200, 201]));
  });

  it('stops serving a connection from its cache within a second of its deletion through the other process', async () => {
    expect((await importConnection(started.a, 'cached', 'kept')).status).toBe(201);
    // Read twice on A: the second answer comes from A's cache.
    for (let read = 0; read < 2; read++) expect((await readConnection(started.a, 'cached')).status).toBe(200);
    expect((await fetch(`${started.b.baseUrl}/connection/cached?provider_config_key=oidc`, { method: 'DELETE', headers: auth })).status).toBe(200);
    // 400 unkown_connection (sic): the seed API's answer for a connection that does not exist.
    expect(await untilStatus(() => readConnection(started.a, 'cached'), 400, 1_000)).toBeLessThan(1_000);
    for (let read = 0; read < 5; read++) expect((await readConnection(started.a, 'cached')).status).toBe(400);
  });

  it('sees a change made through the other process within a second', async () => {
    expect((await importConnection(started.a, 'changing', 'first')).status).toBe(201);
    expect((await readConnection(started.a, 'changing')).status).toBe(200);
    expect((await importConnection(started.b, 'changing', 'second')).status).toBe(201);
    const token = async (): Promise<Response> => {
      const response = await readConnection(started.a, 'changing');
      const body = (await response.clone().json()) as { credentials: { access_token: string } };
      return new Response(null, { status: body.credentials.access_token === 'second' ? 299 : 200 });
    };
    expect(await untilStatus(token, 299, 1_000)).toBeLessThan(1_000);
  });

  it('delivers an OAuth result to the popup held by one process when the provider calls the other back', async () => {
    await expect(connectThroughPopup(started, 'popup-user')).resolves.toEqual({ message_type: 'success', provider_config_key: 'oidc', connection_id: 'popup-user', is_pending: false });
  });
});

describe.skipIf(!PGBOUNCER_BINARY)('pooler settings that cannot work', () => {
  let pgbouncer: PgBouncer | undefined;
  let pooled: TestDatabase | undefined;
  let other: TestDatabase | undefined;

  beforeAll(async () => {
    [pooled, other] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    pgbouncer = await startPgBouncer();
  });

  afterAll(async () => {
    await pgbouncer?.stop();
    await Promise.all([pooled?.drop(), other?.drop()]);
  });

  it('refuses to start with a direct URL that reaches another database than the pooled one, in one line', async () => {
    const exited = await runServerUntilExit({ NANGO_DATABASE_URL: pgbouncer!.urlOf(pooled!.name), NANGO_DATABASE_DIRECT_URL: other!.url, NANGO_SECRET_KEY: 'secret' });
    expect(exited.code).toBe(1);
    expect(exited.output).toMatch(/NANGO_DATABASE_DIRECT_URL reaches a different database \(test_\w+\) than NANGO_DATABASE_URL \(test_\w+\)/);
  });

  it('refuses an unknown NANGO_DB_POOLER value, naming the ones it takes', async () => {
    const exited = await runServerUntilExit({ NANGO_DATABASE_URL: pgbouncer!.urlOf(pooled!.name), NANGO_DB_POOLER: 'statement', NANGO_SECRET_KEY: 'secret' });
    expect(exited.code).toBe(1);
    expect(exited.output).toMatch(/Configuration error: NANGO_DB_POOLER must be "transaction"/);
  });

  it('runs in transaction mode when told to, even where it would not have detected a pooler', async () => {
    const server = await startServerProcess({ NANGO_DATABASE_URL: pooled!.url, NANGO_DB_POOLER: 'transaction', NANGO_SECRET_KEY: 'secret' });
    try {
      expect(server.output()).toMatch(/Database mode: transaction pooler \(NANGO_DB_POOLER=transaction\), without NANGO_DATABASE_DIRECT_URL/);
    } finally {
      await server.stop();
    }
  });
});
