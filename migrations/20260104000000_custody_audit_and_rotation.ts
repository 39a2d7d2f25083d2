import type { Knex } from 'knex';

/**
 * Custody: an audit trail of every credential read and change, and the state of an encryption key rotation
 * (the fingerprint of the key being rotated away from, while rows are re-encrypted).
 */
const SCHEMA = 'nango';

export async function up(knex: Knex): Promise<void> {
  const schema = () => knex.schema.withSchema(SCHEMA);
  if (!(await schema().hasTable('_custody_audit_log'))) {
    await schema().createTable('_custody_audit_log', (table) => {
      table.bigIncrements('id').primary();
      table.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      table.string('action').notNullable();
      table.string('route').notNullable();
      table.string('principal').notNullable();
      table.string('provider_config_key');
      table.string('connection_id');
      table.jsonb('details');
      table.index(['at']);
      table.index(['provider_config_key', 'connection_id', 'id']);
    });
  }
  if (!(await schema().hasColumn('_nango_db_config', 'rotating_from_hash'))) {
    await schema().alterTable('_nango_db_config', (table) => table.string('rotating_from_hash'));
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.withSchema(SCHEMA).dropTableIfExists('_custody_audit_log');
  await knex.schema.withSchema(SCHEMA).alterTable('_nango_db_config', (table) => table.dropColumn('rotating_from_hash'));
}
