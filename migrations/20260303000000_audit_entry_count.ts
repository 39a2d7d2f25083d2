import type { Knex } from 'knex';

/**
 * Custody: an audit row counts the identical entries it stands for (`count`, 1 for every row written before).
 * Entries of one group insert that agree in every column already share their time (the insert's transaction
 * time), so the store writes them as one row with their number (src/store/audit-log-store.ts): a busy proxy
 * calling one endpoint of one connection writes a row per tenth of a second instead of one per call.
 *
 * Adding a column with a constant default changes the catalog only (no rewrite, no scan of any partition), but it
 * needs the table to itself for a moment: like the partitioning, it waits at most 200 ms for the table and tries
 * again, so an older release still serving in a rolling upgrade goes on inserting (its rows get the default).
 */
export const config = { transaction: false };

const SCHEMA = 'nango';
const TABLE = '_custody_audit_log';
const LOCK_TIMEOUT = '200ms';
const ATTEMPTS = 300;
const PAUSE_MS = 200;

export async function up(knex: Knex): Promise<void> {
  await briefly(knex, `ALTER TABLE ${SCHEMA}.${TABLE} ADD COLUMN IF NOT EXISTS count integer NOT NULL DEFAULT 1`);
}

export async function down(knex: Knex): Promise<void> {
  await briefly(knex, `ALTER TABLE ${SCHEMA}.${TABLE} DROP COLUMN IF EXISTS count`);
}

async function briefly(knex: Knex, statement: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await knex.transaction(async (trx) => {
        await trx.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        await trx.raw(statement);
      });
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      if (attempt >= ATTEMPTS) {
        throw new Error(
          `Adding the entry count to the audit log (${SCHEMA}.${TABLE}) gave up: a long-running transaction kept the table for ${((ATTEMPTS * PAUSE_MS) / 1000).toFixed(0)} s. End it (pg_stat_activity shows it) and start the server again.`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  }
}
