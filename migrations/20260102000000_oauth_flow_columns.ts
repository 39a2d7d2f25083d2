import type { Knex } from 'knex';

/**
 * Columns the OAuth flows need beyond Nango v0.16's layout: when a flow's state expires and which client
 * generation started it, and the outcome of the last token refresh of each connection (modern Nango keeps
 * the same facts under these names).
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  const sessions = '_nango_oauth_sessions';
  if (!(await knex.schema.withSchema(SCHEMA).hasColumn(sessions, 'expires_at'))) {
    await knex.schema.withSchema(SCHEMA).alterTable(sessions, (table) => {
      table.timestamp('expires_at', { useTz: true });
      table.string('client_protocol');
    });
  }
  const connections = '_nango_connections';
  if (!(await knex.schema.withSchema(SCHEMA).hasColumn(connections, 'last_refresh_success'))) {
    await knex.schema.withSchema(SCHEMA).alterTable(connections, (table) => {
      table.timestamp('credentials_expires_at', { useTz: true });
      table.timestamp('last_refresh_success', { useTz: true });
      table.timestamp('last_refresh_failure', { useTz: true });
      table.text('last_refresh_error');
      table.integer('refresh_attempts').notNullable().defaultTo(0);
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_oauth_sessions', (table) => {
    table.dropColumns('expires_at', 'client_protocol');
  });
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_connections', (table) => {
    table.dropColumns('credentials_expires_at', 'last_refresh_success', 'last_refresh_failure', 'last_refresh_error', 'refresh_attempts');
  });
}
