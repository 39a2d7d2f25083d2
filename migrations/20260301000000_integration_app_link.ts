import type { Knex } from 'knex';

/**
 * An integration of a GitHub App keeps the app's public link (`app_link`, Nango's column and field): where an end
 * user installs the app. A Nango database that has the column already keeps it as it is.
 */
const SCHEMA = 'nango';
const CONFIGS = '_nango_configs';

export async function up(knex: Knex): Promise<void> {
  if (await knex.schema.withSchema(SCHEMA).hasColumn(CONFIGS, 'app_link')) return;
  await knex.schema.withSchema(SCHEMA).alterTable(CONFIGS, (table) => {
    table.text('app_link');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).alterTable(CONFIGS, (table) => {
    table.dropColumn('app_link');
  });
}
