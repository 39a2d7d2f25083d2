import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { nangoKeyFingerprint, nangoOpen, nangoOpenCredentials, newEncryptionKey } from './support/nango-format.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

/** Several server processes started at the same moment on one external database take turns at start-up. */

const MIGRATIONS = readdirSync(path.join(PACKAGE_ROOT, 'migrations'))
  .filter((file) => /^\d+_[\w-]+\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
  .map((file) => file.replace(/\.(ts|js)$/, ''))
  .sort();

describe('two processes started together on an empty database', () => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    const env = { NANGO_DATABASE_URL: database.url };
    const started = await Promise.allSettled([startServerProcess(env), startServerProcess(env)]);
    servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it('both come up and answer /health', async () => {
    expect(servers).toHaveLength(2);
    for (const server of servers) {
      const response = await fetch(`${server.baseUrl}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ result: 'ok' });
    }
  });

  it('ran every migration exactly once (one row per migration file in nango._custody_migrations)', async () => {
    const rows = (await database.knex('nango._custody_migrations').select('name').orderBy('id')) as { name: string }[];
    expect(rows.map((row) => row.name)).toEqual(MIGRATIONS);
  });

  it('only one of them reports having migrated the database', () => {
    const migrated = servers.filter((server) => /Database migrated/.test(server.output()));
    expect(migrated).toHaveLength(1);
  });

  it('both serve the same data', async () => {
    const [a, b] = servers;
    const create = await fetch(`${a?.baseUrl}/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' }),
    });
    expect(create.status).toBe(200);
    const read = await fetch(`${b?.baseUrl}/config/gh`);
    expect(((await read.json()) as { config: unknown }).config).toMatchObject({ unique_key: 'gh', oauth_client_secret: 'secret' });
  });
});

describe('two processes started together with a first encryption key on plaintext rows', () => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];
  const key = newEncryptionKey();
  const ROWS = 30;

  beforeAll(async () => {
    database = await createTestDatabase();
    await database.knex('_nango_configs').insert(
      Array.from({ length: ROWS }, (_, i) => ({ unique_key: `config-${i}`, provider: 'github', oauth_client_id: `id-${i}`, oauth_client_secret: `plain-secret-${i}`, oauth_scopes: 'repo', account_id: 0 })),
    );
    await database.knex('_nango_connections').insert(
      Array.from({ length: ROWS }, (_, i) => ({
        provider_config_key: 'config-0',
        connection_id: `conn-${i}`,
        account_id: 0,
        credentials: JSON.stringify({ type: 'OAUTH2', access_token: `plain-token-${i}`, raw: {} }),
        connection_config: '{}',
        metadata: '{}',
      })),
    );
    const env = { NANGO_DATABASE_URL: database.url, NANGO_ENCRYPTION_KEY: key };
    const started = await Promise.allSettled([startServerProcess(env), startServerProcess(env)]);
    servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it('both come up', () => {
    expect(servers).toHaveLength(2);
  });

  it('encrypted every row exactly once: each opens to its plaintext with the key', async () => {
    const configs = await database.knex('_nango_configs').orderBy('id');
    expect(configs).toHaveLength(ROWS);
    for (const [i, row] of configs.entries()) {
      expect(nangoOpen(key, { ciphertext: row.oauth_client_secret, iv: row.oauth_client_secret_iv, tag: row.oauth_client_secret_tag })).toBe(`plain-secret-${i}`);
    }
    const connections = await database.knex('_nango_connections').orderBy('id');
    expect(connections).toHaveLength(ROWS);
    for (const [i, row] of connections.entries()) {
      expect(nangoOpenCredentials(key, row)).toEqual({ type: 'OAUTH2', access_token: `plain-token-${i}`, raw: {} });
    }
  });

  it('records one state row: the key fingerprint, encryption complete', async () => {
    expect(await database.knex('_nango_db_config').select('encryption_key_hash', 'encryption_complete')).toEqual([
      { encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true },
    ]);
  });

  it('both serve the rows in clear', async () => {
    for (const server of servers) {
      const response = await fetch(`${server.baseUrl}/connection/conn-7?provider_config_key=config-0`);
      expect(((await response.json()) as { credentials: unknown }).credentials).toMatchObject({ access_token: 'plain-token-7' });
    }
  });
});
