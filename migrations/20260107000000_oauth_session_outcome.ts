import type { Knex } from 'knex';

/**
 * OAuth sessions remember that they were used (until they expire), so a replayed callback can be told
 * from one this server never issued; and a flow started with an end user's own OAuth app (a connect session
 * that allows it) keeps that app's client id and secret until the code is exchanged.
 */
const SCHEMA = 'nango';
const SESSIONS = '_nango_oauth_sessions';

export async function up(knex: Knex): Promise<void> {
  if (await knex.schema.withSchema(SCHEMA).hasColumn(SESSIONS, 'consumed_at')) return;
  await knex.schema.withSchema(SCHEMA).alterTable(SESSIONS, (table) => {
    table.timestamp('consumed_at', { useTz: true });
    table.text('client_id_override');
    table.text('client_secret_override');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).alterTable(SESSIONS, (table) => {
    table.dropColumns('consumed_at', 'client_id_override', 'client_secret_override');
  });
}
