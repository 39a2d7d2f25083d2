import type { Knex } from 'knex';

/**
 * An integration may pin the host its connections use (`pinned_host`, `host` or `host:port`): for a template
 * whose host comes from the connection (self-managed GitLab, Okta, Auth0…), a connection naming another host
 * is refused, so the integration's client secret only ever goes to that one host.
 */
const SCHEMA = 'nango';
const CONFIGS = '_nango_configs';

export async function up(knex: Knex): Promise<void> {
  if (await knex.schema.withSchema(SCHEMA).hasColumn(CONFIGS, 'pinned_host')) return;
  await knex.schema.withSchema(SCHEMA).alterTable(CONFIGS, (table) => {
    table.text('pinned_host');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).alterTable(CONFIGS, (table) => {
    table.dropColumn('pinned_host');
  });
}
