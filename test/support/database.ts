import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { inject } from 'vitest';
import { createKnex } from '../../src/db/database.js';
import { noteDatabaseSecrets } from './secret-watch.js';

export interface TestDatabase {
  name: string;
  connection: pg.ClientConfig;
  /** postgres://… for NANGO_DATABASE_URL */
  url: string;
  knex: Knex;
  drop(): Promise<void>;
}

/**
 * A database of its own for one test file: a copy of the migrated template (fast), or an empty one
 * (`migrated: false`) for tests of migrations themselves.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const server = inject('postgres');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : server.templateDatabase;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const connection: pg.ClientConfig = { host: server.host, port: server.port, user: server.user, password: server.password, database: name };
  const knex = createKnex(connection, 0, 5);
  return {
    name,
    connection,
    url: `postgres://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${name}`,
    knex,
    drop: async () => {
      await noteDatabaseSecrets(`test database of ${name}`, knex).catch((error: unknown) => {
        // A database left unmigrated on purpose (a migration spec) has no tables to look in.
        if ((error as { code?: string }).code !== '42P01') throw error;
      });
      await knex.destroy();
      await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

export async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const server = inject('postgres');
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Empties the integrations and their connections (connections first: they reference their integration), then
 * any other tables named, so each test of a spec file starts from the same empty database.
 */
export async function deleteIntegrations(database: TestDatabase, ...otherTables: string[]): Promise<void> {
  await database.knex('_nango_connections').delete();
  await database.knex('_nango_configs').delete();
  for (const table of otherTables) await database.knex(table).delete();
}
