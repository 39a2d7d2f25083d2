import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, MIGRATIONS_TABLE } from '../src/db/migrate.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { AuditPartitions, partitionName } from '../src/store/audit-partitions.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * The audit trail is kept in one partition per UTC day: retention drops whole days (never a long DELETE), every
 * entry lands in its day or, if no day covers it, in the default partition, and the migration that partitions an
 * existing trail keeps every row.
 */
const DAY = 24 * 60 * 60 * 1000;
const PARTITIONING_MIGRATION = '20260302000000_partitioned_audit_log.ts';
const auth = { authorization: 'Bearer audit-secret' };
const startOfDay = (at: number) => new Date(Math.floor(at / DAY) * DAY);

const entry = (connectionId: string, at: Date) => ({ action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', provider_config_key: 'gh', connection_id: connectionId, at });

async function partitionOf(database: TestDatabase, connectionId: string): Promise<string | undefined> {
  const row = (await database.knex('_custody_audit_log').where({ connection_id: connectionId }).first(database.knex.raw('tableoid::regclass::text AS partition'))) as { partition: string } | undefined;
  return row?.partition.replace(/^nango\./, '');
}

describe('where entries land', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    await new AuditPartitions(database.knex).createAhead(new Date());
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('keeps today and the coming week as partitions of their own', async () => {
    const names = await new AuditPartitions(database.knex).names();
    for (let ahead = 0; ahead <= 7; ahead += 1) expect(names).toContain(partitionName(startOfDay(Date.now() + ahead * DAY)));
    expect(names).toContain('_custody_audit_log_default');
  });

  it('writes a credential read into the partition of its day', async () => {
    const test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
    try {
      await test.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' } });
      await test.app.inject({ method: 'POST', url: '/connection', headers: auth, payload: { connection_id: 'today', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't' } });
      expect((await test.app.inject({ method: 'GET', url: '/connection/today?provider_config_key=gh', headers: auth })).statusCode).toBe(200);
      const read = await database.knex('_custody_audit_log').where({ connection_id: 'today', action: 'credentials.read' }).first(database.knex.raw('tableoid::regclass::text AS partition'), 'at');
      expect(read.partition.replace(/^nango\./, '')).toBe(partitionName(startOfDay(new Date(read.at as Date).getTime())));
    } finally {
      await test.close();
    }
  });

  it('puts an entry older than any partition, or far in the future, in the default partition', async () => {
    await database.knex('_custody_audit_log').insert([entry('ancient', new Date('2001-02-03T04:05:06Z')), entry('future', new Date(Date.now() + 400 * DAY))]);
    expect(await partitionOf(database, 'ancient')).toBe('_custody_audit_log_default');
    expect(await partitionOf(database, 'future')).toBe('_custody_audit_log_default');
  });

  it('moves default rows into a day partition when that day is created', async () => {
    const later = Date.now() + 30 * DAY;
    await database.knex('_custody_audit_log').insert(entry('next-month', new Date(later)));
    expect(await partitionOf(database, 'next-month')).toBe('_custody_audit_log_default');
    await new AuditPartitions(database.knex).createAhead(new Date(later));
    expect(await partitionOf(database, 'next-month')).toBe(partitionName(startOfDay(later)));
  });
});

describe('retention', () => {
  let database: TestDatabase;
  let test: TestApp | undefined;
  let blocker: pg.Client | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await blocker?.end();
    blocker = undefined;
    await test?.close();
    test = undefined;
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('drops the days past the retention as whole partitions, and keeps the newer days', async () => {
    const partitions = new AuditPartitions(database.knex);
    await partitions.createAhead(new Date(Date.now() - 40 * DAY));
    await database.knex('_custody_audit_log').insert([entry('40-days-old', new Date(Date.now() - 40 * DAY)), entry('34-days-old', new Date(Date.now() - 34 * DAY))]);
    const oldDay = partitionName(startOfDay(Date.now() - 40 * DAY));
    expect(await partitionOf(database, '40-days-old')).toBe(oldDay);
    expect(await partitions.names()).toContain(oldDay);

    const outcome = await partitions.dropOlderThan(new Date(Date.now() - 35 * DAY));

    expect(outcome.dropped).toContain(oldDay);
    expect(outcome.postponed).toEqual([]);
    expect(await partitions.names()).not.toContain(oldDay);
    expect(await partitions.names()).toContain(partitionName(startOfDay(Date.now() - 34 * DAY)));
    expect(await partitionOf(database, '40-days-old')).toBeUndefined();
    expect(await partitionOf(database, '34-days-old')).toBe(partitionName(startOfDay(Date.now() - 34 * DAY)));
  });

  it('lets a credential read through while a long query keeps retention from its lock, and drops the day afterwards', async () => {
    const partitions = new AuditPartitions(database.knex);
    await partitions.createAhead(new Date(Date.now() - 60 * DAY));
    const oldDay = partitionName(startOfDay(Date.now() - 60 * DAY));
    test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
    await test.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' } });
    await test.app.inject({ method: 'POST', url: '/connection', headers: auth, payload: { connection_id: 'busy', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't' } });

    // A long report over the whole trail: its transaction holds the table, as a slow dashboard query would.
    blocker = new pg.Client(database.connection);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM nango._custody_audit_log');

    const retention = partitions.dropOlderThan(new Date(Date.now() - 50 * DAY));
    await waitForLockWait(database.knex);
    const read = await test.app.inject({ method: 'GET', url: '/connection/busy?provider_config_key=gh', headers: auth });
    expect(read.statusCode).toBe(200);
    // Answered, and its entry written, while the long query still holds the table.
    expect(await database.knex('_custody_audit_log').where({ connection_id: 'busy', action: 'credentials.read' })).toHaveLength(1);
    const blocked = await retention;
    expect(blocked.postponed).toContain(oldDay);
    expect(await partitions.names()).toContain(oldDay);

    await blocker.query('COMMIT');
    const next = await partitions.dropOlderThan(new Date(Date.now() - 50 * DAY));
    expect(next.dropped).toContain(oldDay);
    expect(await partitions.names()).not.toContain(oldDay);
  });
});

/** Until some statement of the test database waits for a lock (retention's DROP, behind the long query). */
async function waitForLockWait(knex: Knex): Promise<void> {
  for (;;) {
    const result = (await knex.raw(`SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)) as { rows: { waiting: number }[] };
    if ((result.rows[0]?.waiting ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('partitioning an existing trail', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('keeps every row, its id and its time, and new entries continue the ids', async () => {
    const directory = path.join(PACKAGE_ROOT, 'migrations');
    const files = readdirSync(directory).filter((file) => /^\d+_[\w-]+\.ts$/.test(file)).sort();
    const before = files.filter((file) => file < PARTITIONING_MIGRATION);
    await database.knex.raw('CREATE SCHEMA IF NOT EXISTS nango');
    await database.knex.migrate.latest({
      schemaName: 'nango',
      tableName: MIGRATIONS_TABLE,
      migrationSource: {
        getMigrations: async () => before,
        getMigrationName: (file: string) => file.replace(/\.ts$/, ''),
        getMigration: async (file: string) => (await import(pathToFileURL(path.join(directory, file)).href)) as Knex.Migration,
      },
    });
    const written = [entry('last-year', new Date(Date.now() - 300 * DAY)), entry('last-week', new Date(Date.now() - 7 * DAY)), entry('now', new Date())];
    await database.knex('_custody_audit_log').insert(written);
    const rows = await database.knex('_custody_audit_log').select('*').orderBy('id');

    expect(await migrateToLatest(database.knex)).toContain(PARTITIONING_MIGRATION.replace(/\.ts$/, ''));

    expect(await database.knex('_custody_audit_log').select('*').orderBy('id')).toEqual(rows);
    expect(await partitionOf(database, 'last-year')).toBe(partitionName(startOfDay(Date.now() - 300 * DAY)));
    expect(await partitionOf(database, 'now')).toBe(partitionName(startOfDay(Date.now())));
    const [next] = (await database.knex('_custody_audit_log').insert(entry('after', new Date())).returning('id')) as { id: string }[];
    expect(Number(next?.id)).toBeGreaterThan(Number(rows.at(-1)?.id));
  });
});
