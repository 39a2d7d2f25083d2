import type { Knex } from 'knex';

/**
 * Indexes for listing connections at scale: the modern list pages newest first, and both lists filter by
 * connection id across integrations. Without them, every page of a 100,000-connection list sorts the whole
 * table, and a connection-id filter reads all of it.
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX IF NOT EXISTS _custody_connections_newest_first ON ${SCHEMA}._nango_connections (account_id, created_at DESC, id DESC)`);
  await knex.raw(`CREATE INDEX IF NOT EXISTS _custody_connections_connection_id ON ${SCHEMA}._nango_connections (connection_id)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS ${SCHEMA}._custody_connections_newest_first`);
  await knex.raw(`DROP INDEX IF EXISTS ${SCHEMA}._custody_connections_connection_id`);
}
