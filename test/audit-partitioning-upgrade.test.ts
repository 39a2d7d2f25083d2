import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, MIGRATIONS_TABLE } from '../src/db/migrate.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { AuditPartitions } from '../src/store/audit-partitions.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/**
 * Partitioning an existing trail in a rolling upgrade: a trail of a million entries is partitioned while an older
 * release goes on serving, each of its credential reads inserting its entry and reading it back under a short
 * lock_timeout. None of its statements may fail or wait past that, and no entry may be lost or doubled; day
 * partitions are then created beside the million entries without scanning them. A fresh install and an
 * upgraded one end in the same shape.
 */
const PARTITIONING_MIGRATION = '20260302000000_partitioned_audit_log';
/** What an upgrade from the release before partitioning runs: the partitioning, then the entry count (added under an older release's inserts the same way). */
const UPGRADE_MIGRATIONS = [PARTITIONING_MIGRATION, '20260303000000_audit_entry_count'];
const EXISTING_ENTRIES = 1_000_000;
const TABLE = 'nango._custody_audit_log';

/** Applies every migration before the partitioning one, as the release before it left a database. */
async function migrateToReleaseBefore(knex: Knex): Promise<void> {
  const directory = path.join(PACKAGE_ROOT, 'migrations');
  const files = readdirSync(directory).filter((file) => /^\d+_[\w-]+\.ts$/.test(file) && file < PARTITIONING_MIGRATION).sort();
  await knex.raw('CREATE SCHEMA IF NOT EXISTS nango');
  await knex.migrate.latest({
    schemaName: 'nango',
    tableName: MIGRATIONS_TABLE,
    migrationSource: {
      getMigrations: async () => files,
      getMigrationName: (file: string) => file.replace(/\.ts$/, ''),
      getMigration: async (file: string) => (await import(pathToFileURL(path.join(directory, file)).href)) as Knex.Migration,
    },
  });
}

/**
 * What an older release's process does with the trail on every credential read, on a connection of its own:
 * insert the entry (a named statement, as a prepared plan outlives the table it was planned for) and read it back,
 * each statement allowed to wait one second for a lock.
 */
function olderReleaseReads(connection: pg.ClientConfig) {
  const client = new pg.Client(connection);
  const written: string[] = [];
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    await client.connect();
    await client.query(`SET lock_timeout = '1s'`);
    while (running) {
      try {
        const inserted = await client.query<{ id: string }>({
          name: 'audit-entry',
          text: `INSERT INTO ${TABLE} (action, route, principal, provider_config_key, connection_id) VALUES ('credentials.read', 'GET /connection/:connectionId', 'secret_key', 'github', $1) RETURNING id`,
          values: [`older-${written.length}`],
        });
        const id = inserted.rows[0]?.id as string;
        written.push(id);
        const read = await client.query(`SELECT id, at, connection_id FROM ${TABLE} WHERE id = $1`, [id]);
        if (read.rows.length !== 1) failures.push(`entry ${id} not read back`);
      } catch (error) {
        failures.push((error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    written,
    async stop(): Promise<{ written: string[]; failures: string[] }> {
      running = false;
      await loop;
      await client.end();
      return { written, failures };
    },
  };
}

describe('a trail of a million entries', () => {
  let database: TestDatabase;
  let older: ReturnType<typeof olderReleaseReads> | undefined;
  let outcome: { written: string[]; failures: string[] };

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    await migrateToReleaseBefore(database.knex);
    // A year of entries, one every 30 seconds, the newest now.
    await database.knex.raw(
      `INSERT INTO ${TABLE} (at, action, route, principal, provider_config_key, connection_id)
       SELECT now() - n * interval '30 seconds', 'credentials.read', 'GET /connection/:connectionId', 'secret_key', 'github', 'connection-' || (n % 1000)
         FROM generate_series(1, ${EXISTING_ENTRIES}) n`,
    );
  }, 300_000);

  afterAll(async () => {
    await older?.stop();
    await database?.drop();
  });

  it('is partitioned while an older release goes on inserting and reading entries, none of its statements failing or waiting past a 1 s lock_timeout', async () => {
    older = olderReleaseReads(database.connection);
    while (older.written.length < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await migrateToLatest(database.knex)).toEqual(UPGRADE_MIGRATIONS);
    const during = older.written.length;
    while (older.written.length < during + 20) await new Promise((resolve) => setTimeout(resolve, 10));
    outcome = await older.stop();
    older = undefined;

    expect(outcome.failures).toEqual([]);
    expect((await database.knex.raw(`SELECT relkind FROM pg_class WHERE oid = '${TABLE}'::regclass`)).rows[0].relkind).toBe('p');
  }, 300_000);

  it('keeps each of the million entries, and each entry written meanwhile, exactly once', async () => {
    const counts = (await database.knex.raw(`SELECT count(*)::int AS total, count(DISTINCT id)::int AS ids, count(*) FILTER (WHERE connection_id LIKE 'older-%')::int AS older FROM ${TABLE}`)).rows[0];
    expect(counts).toEqual({ total: EXISTING_ENTRIES + outcome.written.length, ids: EXISTING_ENTRIES + outcome.written.length, older: outcome.written.length });
    const found = (await database.knex.raw(`SELECT count(*)::int AS found FROM ${TABLE} WHERE id = ANY(?::bigint[])`, [outcome.written])).rows[0].found;
    expect(found).toBe(outcome.written.length);
  });

  it('proves with a validated check, not a scan, that the old table holds nothing from the earlier partition\'s bound on', async () => {
    const earlier = (await new AuditPartitions(database.knex).list()).find((partition) => partition.name === '_custody_audit_log_earlier');
    expect(earlier?.from).toBeNull();
    const checks = (await database.knex.raw(`SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'nango._custody_audit_log_earlier'::regclass AND contype = 'c'`)).rows;
    const day = (earlier?.to as Date).toISOString().slice(0, 10).replaceAll('-', '');
    expect(checks).toEqual([{ conname: `_custody_audit_log_before_${day}`, convalidated: true }]);
  });

  it('gets its days created beside the million earlier entries within a 200 ms lock_timeout while an older release goes on writing', async () => {
    const reads = olderReleaseReads(database.connection);
    older = reads;
    while (reads.written.length < 5) await new Promise((resolve) => setTimeout(resolve, 10));
    const created = await new AuditPartitions(database.knex).createAhead(new Date());
    const { failures } = await reads.stop();
    older = undefined;

    // From the day after tomorrow through a week from today: six days, none of them postponed by a lock.
    expect(created).toHaveLength(6);
    expect(failures).toEqual([]);
  }, 120_000);
});

/** Every relation of the trail with its range, columns, indexes and constraints, as the catalog describes them. */
async function shapeOf(knex: Knex): Promise<unknown> {
  const relations = (await knex.raw(
    `SELECT c.relname AS name, c.relkind AS kind, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_partition_tree('${TABLE}'::regclass) t JOIN pg_class c ON c.oid = t.relid ORDER BY c.relname`,
  )).rows as { name: string }[];
  const shape = [];
  for (const relation of relations) {
    const qualified = `nango.${relation.name}`;
    const columns = (await knex.raw(
      `SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, pg_get_expr(d.adbin, d.adrelid) AS "default"
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [qualified],
    )).rows;
    const indexes = (await knex.raw(`SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index WHERE indrelid = ?::regclass ORDER BY 1`, [qualified])).rows;
    const constraints = (await knex.raw(`SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = ?::regclass AND contype <> 'n' ORDER BY 1`, [qualified])).rows;
    shape.push({ ...relation, columns, indexes, constraints });
  }
  const sequence = (await knex.raw(`SELECT pg_get_serial_sequence('${TABLE}', 'id') AS name`)).rows[0].name as string;
  return { relations: shape, sequence };
}

describe('a fresh install and an upgraded one', () => {
  let fresh: TestDatabase;
  let upgraded: TestDatabase;

  beforeAll(async () => {
    fresh = await createTestDatabase({ migrated: false });
    upgraded = await createTestDatabase({ migrated: false });
  });

  afterAll(async () => {
    await fresh?.drop();
    await upgraded?.drop();
  });

  it('end with the same partitions, columns, indexes and constraints', async () => {
    await migrateToLatest(fresh.knex);
    await migrateToReleaseBefore(upgraded.knex);
    await upgraded.knex('_custody_audit_log').insert({ action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', provider_config_key: 'github', connection_id: 'before-the-upgrade' });
    await migrateToLatest(upgraded.knex);
    for (const database of [fresh, upgraded]) await new AuditPartitions(database.knex).createAhead(new Date());

    const freshShape = await shapeOf(fresh.knex);
    expect(await shapeOf(upgraded.knex)).toEqual(freshShape);
    expect(JSON.stringify(freshShape)).toContain('_custody_audit_log_default');
    expect(JSON.stringify(freshShape)).toContain('_custody_audit_log_earlier_pkey');
  });

  it('resume a partitioning that stopped half way, after its check and before its swap', async () => {
    await upgraded.knex.raw('DROP SCHEMA nango CASCADE');
    await migrateToReleaseBefore(upgraded.knex);
    await upgraded.knex('_custody_audit_log').insert({ action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', connection_id: 'kept' });
    // What the first step leaves: the bound's check, not yet validated.
    const bound = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 + 2 * 86_400_000);
    await upgraded.knex.raw(`ALTER TABLE ${TABLE} ADD CONSTRAINT _custody_audit_log_before_${bound.toISOString().slice(0, 10).replaceAll('-', '')} CHECK (at < '${bound.toISOString()}') NOT VALID`);

    expect(await migrateToLatest(upgraded.knex)).toEqual(UPGRADE_MIGRATIONS);
    expect(await upgraded.knex('_custody_audit_log').pluck('connection_id')).toEqual(['kept']);
    for (const database of [fresh, upgraded]) await new AuditPartitions(database.knex).createAhead(new Date());
    expect(await shapeOf(upgraded.knex)).toEqual(await shapeOf(fresh.knex));
  });
});

describe('a trail holding an entry dated ahead (a clock once far off)', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('is partitioned with the earlier partition reaching past that entry, which it keeps', async () => {
    await migrateToReleaseBefore(database.knex);
    const ahead = new Date(Date.now() + 10 * 86_400_000);
    await database.knex('_custody_audit_log').insert({ at: ahead, action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', connection_id: 'dated-ahead' });

    expect(await migrateToLatest(database.knex)).toEqual(UPGRADE_MIGRATIONS);

    const earlier = (await new AuditPartitions(database.knex).list()).find((partition) => partition.name === '_custody_audit_log_earlier');
    expect(earlier?.to?.getTime()).toBe(Math.floor(ahead.getTime() / 86_400_000) * 86_400_000 + 86_400_000);
    const kept = await database.knex('_custody_audit_log').where({ connection_id: 'dated-ahead' }).first(database.knex.raw('tableoid::regclass::text AS partition'), 'at');
    expect({ ...kept, partition: kept.partition.replace(/^nango\./, '') }).toEqual({ partition: '_custody_audit_log_earlier', at: ahead });
  });
});
