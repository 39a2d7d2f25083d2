import type { Knex } from 'knex';

/**
 * What the modern API adds: integration display names, connections' end user, organisation and tags, and
 * connect sessions (short-lived tokens a frontend uses instead of the secret key; only their hash is stored).
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  const schema = () => knex.schema.withSchema(SCHEMA);
  // Nango v0.16 made an integration's OAuth client mandatory; API-key and unauthenticated integrations have none.
  await knex.raw(`ALTER TABLE ??._nango_configs ALTER COLUMN oauth_client_id DROP NOT NULL, ALTER COLUMN oauth_client_secret DROP NOT NULL, ALTER COLUMN oauth_scopes DROP NOT NULL`, [SCHEMA]);
  if (!(await schema().hasColumn('_nango_configs', 'display_name'))) {
    await schema().alterTable('_nango_configs', (table) => {
      table.string('display_name');
      table.boolean('forward_webhooks').notNullable().defaultTo(true);
    });
  }
  if (!(await schema().hasColumn('_nango_connections', 'end_user'))) {
    await schema().alterTable('_nango_connections', (table) => {
      table.jsonb('end_user');
      table.jsonb('tags').notNullable().defaultTo('{}');
      table.text('webhook_url_override');
    });
  }
  if (!(await schema().hasColumn('_nango_oauth_sessions', 'end_user'))) {
    await schema().alterTable('_nango_oauth_sessions', (table) => {
      table.jsonb('end_user');
      table.jsonb('tags');
    });
  }
  if (!(await schema().hasTable('_custody_connect_sessions'))) {
    await schema().createTable('_custody_connect_sessions', (table) => {
      table.increments('id').primary();
      table.string('token_hash', 64).notNullable().unique();
      table.jsonb('end_user');
      table.jsonb('organization');
      table.jsonb('allowed_integrations');
      table.jsonb('integrations_config_defaults');
      table.jsonb('overrides');
      table.jsonb('tags').notNullable().defaultTo('{}');
      table.text('webhook_url_override');
      table.string('reconnect_connection_id');
      table.string('reconnect_integration');
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      table.timestamp('expires_at', { useTz: true }).notNullable();
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).dropTableIfExists('_custody_connect_sessions');
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_oauth_sessions', (table) => table.dropColumns('end_user', 'tags'));
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_connections', (table) => table.dropColumns('end_user', 'tags', 'webhook_url_override'));
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_configs', (table) => table.dropColumns('display_name', 'forward_webhooks'));
}
