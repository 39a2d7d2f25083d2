import type { Knex } from 'knex';

/**
 * Every server process keeps the connections it reads in memory (src/store/connection-cache.ts) and must hear
 * of every change to them, whoever makes it: another process, a migration, an operator's own SQL. Triggers
 * announce each written connection as the JSON array [provider_config_key, connection_id], and `*` when a
 * whole table is truncated or an integration changes (its client secret is part of a cached row). PostgreSQL
 * sends the notifications when the transaction commits, and drops them if it rolls back.
 */
const SCHEMA = 'nango';
const CHANNEL = 'custody_connection_changes';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION ${SCHEMA}._custody_announce_connection_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('${CHANNEL}', json_build_array(OLD.provider_config_key, OLD.connection_id)::text);
      END IF;
      IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.provider_config_key, NEW.connection_id) IS DISTINCT FROM (OLD.provider_config_key, OLD.connection_id)) THEN
        PERFORM pg_notify('${CHANNEL}', json_build_array(NEW.provider_config_key, NEW.connection_id)::text);
      END IF;
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION ${SCHEMA}._custody_announce_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${CHANNEL}', '*');
      RETURN NULL;
    END $$`);
  await knex.raw(`
    CREATE TRIGGER _custody_connection_changed AFTER INSERT OR UPDATE OR DELETE ON ${SCHEMA}._nango_connections
    FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}._custody_announce_connection_change()`);
  await knex.raw(`
    CREATE TRIGGER _custody_connections_truncated AFTER TRUNCATE ON ${SCHEMA}._nango_connections
    FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}._custody_announce_everything_changed()`);
  await knex.raw(`
    CREATE TRIGGER _custody_integrations_changed AFTER UPDATE OR DELETE OR TRUNCATE ON ${SCHEMA}._nango_configs
    FOR EACH STATEMENT EXECUTE FUNCTION ${SCHEMA}._custody_announce_everything_changed()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TRIGGER IF EXISTS _custody_integrations_changed ON ${SCHEMA}._nango_configs`);
  await knex.raw(`DROP TRIGGER IF EXISTS _custody_connections_truncated ON ${SCHEMA}._nango_connections`);
  await knex.raw(`DROP TRIGGER IF EXISTS _custody_connection_changed ON ${SCHEMA}._nango_connections`);
  await knex.raw(`DROP FUNCTION IF EXISTS ${SCHEMA}._custody_announce_everything_changed()`);
  await knex.raw(`DROP FUNCTION IF EXISTS ${SCHEMA}._custody_announce_connection_change()`);
}
