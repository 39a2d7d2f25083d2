import type { Knex } from 'knex';

/**
 * An OAuth flow's result, kept for the process that holds the page's WebSocket when the provider called another
 * one back. NOTIFY carries it within milliseconds to a process that listens; a process that cannot listen (behind
 * a transaction pooler without NANGO_DATABASE_DIRECT_URL, or while its listener reconnects) polls this table for
 * the sockets it holds. Rows are taken when delivered and removed after an hour otherwise.
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${SCHEMA}._custody_oauth_results (
      ws_client_id text PRIMARY KEY,
      message jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS ${SCHEMA}._custody_oauth_results`);
}
