import type { Knex } from 'knex';

/**
 * A connect session's `webhook_url_override` must reach the connection its OAuth flow creates, and the flow
 * finishes in a later request (perhaps on another process): the OAuth session carries it until the callback.
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  if (!(await knex.schema.withSchema(SCHEMA).hasColumn('_nango_oauth_sessions', 'webhook_url_override'))) {
    await knex.schema.withSchema(SCHEMA).alterTable('_nango_oauth_sessions', (table) => table.text('webhook_url_override'));
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_oauth_sessions', (table) => table.dropColumn('webhook_url_override'));
}
