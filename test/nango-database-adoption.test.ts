import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { nangoKeyFingerprint, nangoSeal, nangoSealedCredentials, newEncryptionKey } from './support/nango-format.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';

/**
 * "Migrating from Nango": the server pointed at the database a Nango v0.16 server left behind (schema `nango`,
 * built here with raw SQL as Nango's knex migrations left it, rows encrypted in Nango's format by the test)
 * adopts it in place and serves every integration and connection as they are.
 */

const NANGO_SCHEMA_SQL = `
CREATE SCHEMA nango;

CREATE TABLE nango._nango_auth_migrations (
  id serial PRIMARY KEY,
  name varchar(255),
  batch integer,
  migration_time timestamptz
);
CREATE TABLE nango._nango_auth_migrations_lock (
  index serial PRIMARY KEY,
  is_locked integer
);

CREATE TABLE nango._nango_accounts (
  id serial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  secret_key varchar(255) NOT NULL DEFAULT gen_random_uuid()::text,
  public_key uuid NOT NULL DEFAULT gen_random_uuid(),
  callback_url text,
  owner_id integer NOT NULL DEFAULT 0,
  name varchar(255) NOT NULL DEFAULT 'My Organization',
  secret_key_iv varchar(255),
  secret_key_tag varchar(255),
  CONSTRAINT _nango_accounts_secret_key_unique UNIQUE (secret_key),
  CONSTRAINT _nango_accounts_public_key_unique UNIQUE (public_key)
);
CREATE TABLE nango._nango_users (
  id serial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  name varchar(255) NOT NULL,
  email varchar(255) NOT NULL,
  hashed_password varchar(255) NOT NULL,
  salt varchar(255) NOT NULL,
  account_id integer NOT NULL REFERENCES nango._nango_accounts (id) ON DELETE CASCADE,
  reset_password_token varchar(255),
  CONSTRAINT _nango_users_email_unique UNIQUE (email)
);

CREATE TABLE nango._nango_configs (
  id serial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  unique_key varchar(255) NOT NULL,
  provider varchar(255) NOT NULL,
  oauth_client_id text,
  oauth_client_secret text,
  oauth_scopes text,
  account_id integer NOT NULL DEFAULT 0 REFERENCES nango._nango_accounts (id) ON DELETE CASCADE,
  oauth_client_secret_iv varchar(255),
  oauth_client_secret_tag varchar(255),
  CONSTRAINT _nango_configs_unique_key_account_id_unique UNIQUE (unique_key, account_id)
);
CREATE TABLE nango._nango_connections (
  id serial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  provider_config_key varchar(255) NOT NULL,
  connection_id varchar(255) NOT NULL,
  credentials json NOT NULL,
  connection_config jsonb,
  account_id integer NOT NULL DEFAULT 0 REFERENCES nango._nango_accounts (id) ON DELETE CASCADE,
  metadata jsonb,
  credentials_iv varchar(255),
  credentials_tag varchar(255),
  CONSTRAINT _nango_connections_provider_config_key_connection_id_account_id_unique UNIQUE (provider_config_key, connection_id, account_id)
);
CREATE TABLE nango._nango_db_config (
  encryption_key_hash varchar(255),
  encryption_complete boolean DEFAULT false
);
-- As of v0.16 this table had web_socket_client_id; it is left out here to check that the server adds a missing column.
CREATE TABLE nango._nango_oauth_sessions (
  id uuid NOT NULL UNIQUE,
  provider_config_key varchar(255) NOT NULL,
  provider varchar(255) NOT NULL,
  connection_id varchar(255) NOT NULL,
  callback_url text NOT NULL,
  auth_mode varchar(255) NOT NULL,
  account_id bigint DEFAULT 0,
  connection_config json,
  code_verifier varchar(255),
  request_token_secret varchar(255),
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
`;

/** Nango added the account owner after seeding user 0 (the two tables point at each other). */
const NANGO_OWNER_CONSTRAINT_SQL = `ALTER TABLE nango._nango_accounts ADD CONSTRAINT _nango_accounts_owner_id_foreign FOREIGN KEY (owner_id) REFERENCES nango._nango_users (id)`;

const NANGO_MIGRATIONS = [
  '20221026075018_create_connection.cjs',
  '20221026075019_create_config.cjs',
  '20221223094334_add_connection_config.cjs',
  '20230213163753_add_callback_to_account.cjs',
  '20230217123640_add_metadata_to_connection.cjs',
  '20230225211916_create_user.cjs',
  '20230225211941_add_name_and_owner_to_account.cjs',
  '20230326083713_create_oauth_session.cjs',
];

interface NangoConfig {
  unique_key: string;
  provider: string;
  oauth_client_id: string;
  oauth_client_secret: string;
  oauth_scopes: string;
}

interface NangoConnection {
  provider_config_key: string;
  connection_id: string;
  credentials: Record<string, unknown>;
  connection_config: Record<string, unknown>;
  metadata: Record<string, unknown> | null;
}

const configs: NangoConfig[] = [
  { unique_key: 'github-prod', provider: 'github', oauth_client_id: 'gh-client', oauth_client_secret: 'gh-client-secret-from-nango', oauth_scopes: 'repo,user' },
  { unique_key: 'zendesk', provider: 'zendesk', oauth_client_id: 'zd-client', oauth_client_secret: 'zd-client-secret-from-nango', oauth_scopes: 'read,write' },
  { unique_key: 'twitter-v1', provider: 'twitter', oauth_client_id: 'tw-consumer', oauth_client_secret: 'tw-consumer-secret-from-nango', oauth_scopes: '' },
];

const connections: NangoConnection[] = [
  {
    provider_config_key: 'github-prod',
    connection_id: 'user-1',
    credentials: {
      type: 'OAUTH2',
      access_token: 'gho_access_from_nango',
      refresh_token: 'ghr_refresh_from_nango',
      expires_at: '2099-06-01T12:00:00.000Z',
      raw: { access_token: 'gho_access_from_nango', refresh_token: 'ghr_refresh_from_nango', token_type: 'bearer', expires_in: 28800, expires_at: '2099-06-01T12:00:00.000Z' },
    },
    connection_config: {},
    metadata: { team: 'blue' },
  },
  {
    provider_config_key: 'zendesk',
    connection_id: 'acme',
    credentials: { type: 'OAUTH2', access_token: 'zd_access_from_nango', raw: { access_token: 'zd_access_from_nango', token_type: 'bearer', scope: 'read write' } },
    connection_config: { 'connectionConfig.params.subdomain': 'acme' },
    metadata: null,
  },
  {
    provider_config_key: 'twitter-v1',
    connection_id: 'tw-user',
    credentials: { type: 'OAUTH1', oauth_token: 'tw_token_from_nango', oauth_token_secret: 'tw_token_secret_from_nango', raw: { oauth_token: 'tw_token_from_nango', oauth_token_secret: 'tw_token_secret_from_nango', user_id: '42', screen_name: 'someone' } },
    connection_config: {},
    metadata: { handle: '@someone' },
  },
];

const SECRET_KEY = 'nango-secret-key-for-adoption';
const auth = { authorization: `Bearer ${SECRET_KEY}` };
const ORIGINAL_TABLES = ['_nango_accounts', '_nango_users', '_nango_configs', '_nango_connections', '_nango_db_config', '_nango_oauth_sessions'];
const OUR_MIGRATIONS = readdirSync(path.join(PACKAGE_ROOT, 'migrations'))
  .filter((file) => /^\d+_[\w-]+\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
  .map((file) => file.replace(/\.(ts|js)$/, ''))
  .sort();

/** Every row of every table Nango created, restricted to Nango's own columns, as text (so json is compared byte for byte). */
async function snapshotNangoRows(database: TestDatabase, originalColumns: Record<string, string[]>): Promise<Record<string, unknown[]>> {
  const snapshot: Record<string, unknown[]> = {};
  for (const table of [...ORIGINAL_TABLES, '_nango_auth_migrations', '_nango_auth_migrations_lock']) {
    const columns = originalColumns[table] ?? [];
    const select = columns.map((column) => `${JSON.stringify(column)}::text AS ${JSON.stringify(column)}`).join(', ');
    const result = await database.knex.raw(`SELECT ${select} FROM nango.${table} ORDER BY 1`);
    snapshot[table] = result.rows;
  }
  return snapshot;
}

async function columnsOf(database: TestDatabase): Promise<Record<string, string[]>> {
  const result = await database.knex.raw(`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'nango' ORDER BY table_name, ordinal_position`);
  const columns: Record<string, string[]> = {};
  for (const row of result.rows as { table_name: string; column_name: string }[]) (columns[row.table_name] ??= []).push(row.column_name);
  return columns;
}

async function schemaDescription(database: TestDatabase): Promise<unknown[]> {
  const result = await database.knex.raw(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'nango' ORDER BY table_name, column_name`,
  );
  return result.rows;
}

describe('Migrating from Nango: a Nango v0.16 database with encrypted rows', () => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;
  const key = newEncryptionKey();
  let originalColumns: Record<string, string[]>;
  let before: Record<string, unknown[]>;
  let firstOutput = '';
  type InsertedRow = { id: number; created_at: Date; iv: string; tag: string };
  const inserted: { configs: Record<string, InsertedRow>; connections: Record<string, InsertedRow> } = { configs: {}, connections: {} };

  const env = () => ({ NANGO_DATABASE_URL: database.url, NANGO_ENCRYPTION_KEY: key, NANGO_SECRET_KEY: SECRET_KEY });

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    await database.knex.raw(NANGO_SCHEMA_SQL);
    await database.knex.transaction(async (trx) => {
      const migrationTime = new Date('2023-05-02T10:00:00Z');
      await trx('nango._nango_auth_migrations').insert(NANGO_MIGRATIONS.map((name, index) => ({ name, batch: index + 1, migration_time: migrationTime })));
      await trx('nango._nango_auth_migrations_lock').insert({ is_locked: 0 });
      const accountSecret = nangoSeal(key, 'e0b3f1c2-0000-4000-8000-account-secret');
      await trx('nango._nango_accounts').insert({ id: 0, name: 'My Organization', owner_id: 0, secret_key: accountSecret.ciphertext, secret_key_iv: accountSecret.iv, secret_key_tag: accountSecret.tag });
      // Nango's migration 20230225211941_add_name_and_owner_to_account seeds user 0 like this (its columns are NOT NULL).
      await trx('nango._nango_users').insert({ id: 0, name: 'unknown', email: 'unknown', hashed_password: 'unkown', salt: 'unknown', account_id: 0 });
      await trx.raw(NANGO_OWNER_CONSTRAINT_SQL);
      await trx('nango._nango_db_config').insert({ encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true });
      for (const config of configs) {
        const sealed = nangoSeal(key, config.oauth_client_secret);
        const [row] = await trx('nango._nango_configs')
          .insert({ ...config, oauth_client_secret: sealed.ciphertext, oauth_client_secret_iv: sealed.iv, oauth_client_secret_tag: sealed.tag, account_id: 0, created_at: new Date('2023-04-01T08:00:00Z') })
          .returning(['id', 'created_at']);
        inserted.configs[config.unique_key] = { id: row.id, created_at: row.created_at, iv: sealed.iv, tag: sealed.tag };
      }
      for (const connection of connections) {
        const sealed = nangoSealedCredentials(key, connection.credentials);
        const [row] = await trx('nango._nango_connections')
          .insert({
            provider_config_key: connection.provider_config_key,
            connection_id: connection.connection_id,
            account_id: 0,
            connection_config: JSON.stringify(connection.connection_config),
            metadata: connection.metadata === null ? null : JSON.stringify(connection.metadata),
            ...sealed,
            created_at: new Date('2023-04-15T09:30:00Z'),
          })
          .returning(['id', 'created_at']);
        inserted.connections[connection.connection_id] = { id: row.id, created_at: row.created_at, iv: sealed.credentials_iv, tag: sealed.credentials_tag };
      }
    });
    originalColumns = await columnsOf(database);
    before = await snapshotNangoRows(database, originalColumns);

    server = await startServerProcess(env());
    firstOutput = server.output();
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('starts on the Nango database with the same key', async () => {
    expect(firstOutput).toMatch(/Server listening on port \d+/);
    const health = await fetch(`${server?.baseUrl}/health`);
    expect(await health.json()).toEqual({ result: 'ok' });
  });

  it('leaves Nango’s migration bookkeeping untouched and keeps its own in nango._custody_migrations', async () => {
    const nangoMigrations = await database.knex('nango._nango_auth_migrations').select('name', 'batch').orderBy('id');
    expect(nangoMigrations).toEqual(NANGO_MIGRATIONS.map((name, index) => ({ name, batch: index + 1 })));
    expect(await database.knex('nango._nango_auth_migrations_lock').select('is_locked')).toEqual([{ is_locked: 0 }]);
    const ours = await database.knex('nango._custody_migrations').select('name').orderBy('id');
    expect(ours.map((row) => row.name)).toEqual(OUR_MIGRATIONS);
  });

  it('serves every integration with its client secret in clear and its stored fields unchanged', async () => {
    const list = await fetch(`${server?.baseUrl}/config`, { headers: auth });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { configs: Record<string, unknown>[] };
    expect(body.configs).toHaveLength(configs.length);
    for (const config of configs) {
      const stored = inserted.configs[config.unique_key];
      const expected = {
        id: stored?.id,
        unique_key: config.unique_key,
        provider: config.provider,
        oauth_client_id: config.oauth_client_id,
        oauth_client_secret: config.oauth_client_secret,
        oauth_scopes: config.oauth_scopes,
        account_id: 0,
        oauth_client_secret_iv: stored?.iv,
        oauth_client_secret_tag: stored?.tag,
        created_at: stored?.created_at.toISOString(),
      };
      expect(body.configs).toContainEqual(expect.objectContaining(expected));
      const one = await fetch(`${server?.baseUrl}/config/${config.unique_key}`, { headers: auth });
      expect(one.status).toBe(200);
      expect(((await one.json()) as { config: unknown }).config).toMatchObject(expected);
    }
  });

  it('serves every connection with its credentials, seed-era connection_config and metadata unchanged', async () => {
    for (const connection of connections) {
      const stored = inserted.connections[connection.connection_id];
      const response = await fetch(`${server?.baseUrl}/connection/${connection.connection_id}?provider_config_key=${connection.provider_config_key}`, { headers: auth });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        id: stored?.id,
        connection_id: connection.connection_id,
        provider_config_key: connection.provider_config_key,
        credentials: connection.credentials,
        connection_config: connection.connection_config,
        metadata: connection.metadata ?? {},
        created_at: stored?.created_at.toISOString(),
      });
      // How the row is stored (its account, the sealed credentials' IV and tag) is not part of the answer.
      expect(Object.keys(body)).not.toContain('account_id');
      expect(Object.keys(body)).not.toContain('credentials_iv');
      expect(Object.keys(body)).not.toContain('credentials_tag');
    }
    const list = await fetch(`${server?.baseUrl}/connection`, { headers: auth });
    const listed = ((await list.json()) as { connections: { connection_id: string; provider: string }[] }).connections;
    expect(listed.map((row) => [row.connection_id, row.provider])).toEqual(connections.map((row) => [row.connection_id, row.provider_config_key]));
  });

  it('re-encrypts and rewrites nothing: every original column of every row is byte-for-byte as Nango left it', async () => {
    expect(await snapshotNangoRows(database, originalColumns)).toEqual(before);
  });

  it('adds a column an adopted table lacks (web_socket_client_id on _nango_oauth_sessions)', async () => {
    const columns = await columnsOf(database);
    expect(columns['_nango_oauth_sessions']).toContain('web_socket_client_id');
    // Nango's own columns are all still there, in their order.
    for (const table of ORIGINAL_TABLES) expect(columns[table]?.slice(0, originalColumns[table]?.length)).toEqual(originalColumns[table]);
  });

  it('keeps Nango’s key fingerprint in _nango_db_config', async () => {
    expect(await database.knex('nango._nango_db_config').select('encryption_key_hash', 'encryption_complete')).toEqual([
      { encryption_key_hash: nangoKeyFingerprint(key), encryption_complete: true },
    ]);
  });

  it('a second start is a no-op: no migration, no change to any row or column', async () => {
    await server?.stop();
    server = undefined;
    const rowsBefore = await snapshotNangoRows(database, originalColumns);
    const schemaBefore = await schemaDescription(database);
    const custodyBefore = await database.knex('nango._custody_migrations').select('*').orderBy('id');

    server = await startServerProcess(env());
    const response = await fetch(`${server.baseUrl}/connection/acme?provider_config_key=zendesk`, { headers: auth });
    expect(((await response.json()) as { connection_config: unknown }).connection_config).toEqual({ 'connectionConfig.params.subdomain': 'acme' });

    expect(server.output()).not.toMatch(/Database migrated/);
    expect(await database.knex('nango._custody_migrations').select('*').orderBy('id')).toEqual(custodyBefore);
    expect(await schemaDescription(database)).toEqual(schemaBefore);
    expect(await snapshotNangoRows(database, originalColumns)).toEqual(rowsBefore);
    expect(rowsBefore).toEqual(before);
  });
});
