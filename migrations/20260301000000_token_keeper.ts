import type { Knex } from 'knex';

/**
 * The token keeper's schedule on each connection: when the keeper should next look at it (`refresh_due_at`,
 * null when its credentials cannot be renewed or it gave up), since when its refreshes have failed, and when the
 * keeper gave up on it. A sweep asks for the few rows due through the partial index on the due time, so its
 * cost follows the number of due connections, not the size of the table.
 *
 * Rows already stored get a due time from what the table says without opening credentials: the refresh margin
 * before expiry, or a day after the last refresh (or write), whichever comes first. A row that turns out not to
 * be renewable is taken off the schedule the first time the keeper looks at it. A row whose refreshes were failing
 * counts as failing since its last failure (the first one was not recorded).
 */
const SCHEMA = 'nango';
const CONNECTIONS = '_nango_connections';

export async function up(knex: Knex): Promise<void> {
  if (!(await knex.schema.withSchema(SCHEMA).hasColumn(CONNECTIONS, 'refresh_due_at'))) {
    await knex.schema.withSchema(SCHEMA).alterTable(CONNECTIONS, (table) => {
      table.timestamp('refresh_due_at', { useTz: true });
      table.timestamp('refresh_failing_since', { useTz: true });
      table.timestamp('refresh_given_up_at', { useTz: true });
    });
    await knex.raw(
      `UPDATE ${SCHEMA}.${CONNECTIONS}
       SET refresh_due_at = LEAST(credentials_expires_at - interval '15 minutes', COALESCE(last_refresh_success, updated_at, created_at, now()) + interval '24 hours'),
           refresh_failing_since = CASE WHEN refresh_attempts > 0 THEN last_refresh_failure END`,
    );
  }
  await knex.raw(`CREATE INDEX IF NOT EXISTS _custody_connections_refresh_due ON ${SCHEMA}.${CONNECTIONS} (refresh_due_at) WHERE refresh_due_at IS NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS ${SCHEMA}._custody_connections_refresh_due`);
  await knex.schema.withSchema(SCHEMA).alterTable(CONNECTIONS, (table) => {
    table.dropColumn('refresh_due_at');
    table.dropColumn('refresh_failing_since');
    table.dropColumn('refresh_given_up_at');
  });
}
