import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest, MIGRATIONS_TABLE } from '../src/db/migrate.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { AuditPartitions, partitionName, PRUNE_BATCH, type AuditPartition } from '../src/store/audit-partitions.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { buildTestApp, type TestApp } from './support/test-app.js';

/**
 * The audit trail is kept in one partition per UTC day from a bound two days after partitioning began, the trail
 * before it in the partition the old table became: retention drops whole days and deletes what remains in short
 * batches (never a long DELETE), every entry lands in the partition whose range holds it or, if none does, in the
 * default partition, and the migration that partitions an existing trail keeps every row.
 */
const DAY = 24 * 60 * 60 * 1000;
const PARTITIONING_MIGRATION = '20260302000000_partitioned_audit_log.ts';
const auth = { authorization: 'Bearer audit-secret' };
const startOfDay = (at: number) => new Date(Math.floor(at / DAY) * DAY);
const EARLIER = '_custody_audit_log_earlier';
const DEFAULT_PARTITION = '_custody_audit_log_default';

const entry = (connectionId: string, at: Date) => ({ action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', provider_config_key: 'gh', connection_id: connectionId, at });

async function partitionOf(database: TestDatabase, connectionId: string): Promise<string | undefined> {
  const row = (await database.knex('_custody_audit_log').where({ connection_id: connectionId }).first(database.knex.raw('tableoid::regclass::text AS partition'))) as { partition: string } | undefined;
  return row?.partition.replace(/^nango\./, '');
}

/** Where the earlier partition's range ends: the first day partitions can start at. */
async function earlierBound(database: TestDatabase): Promise<number> {
  const earlier = (await new AuditPartitions(database.knex).list()).find((partition) => partition.name === EARLIER);
  return (earlier?.to as Date).getTime();
}

describe('where entries land', () => {
  let database: TestDatabase;
  let bound: number;

  beforeAll(async () => {
    database = await createTestDatabase();
    await new AuditPartitions(database.knex).createAhead(new Date());
    bound = await earlierBound(database);
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('keeps the trail up to the start of the day after tomorrow in the earlier partition, and each day from there through the coming week in one of its own', async () => {
    expect(bound).toBe(startOfDay(Date.now() + 2 * DAY).getTime());
    const names = await new AuditPartitions(database.knex).names();
    for (let ahead = 2; ahead <= 7; ahead += 1) expect(names).toContain(partitionName(startOfDay(Date.now() + ahead * DAY)));
    expect(names).not.toContain(partitionName(startOfDay(Date.now())));
    expect(names).toContain(EARLIER);
    expect(names).toContain(DEFAULT_PARTITION);
  });

  it('writes a credential read into the partition whose range holds its time', async () => {
    const test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
    try {
      await test.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' } });
      await test.app.inject({ method: 'POST', url: '/connection', headers: auth, payload: { connection_id: 'today', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't' } });
      expect((await test.app.inject({ method: 'GET', url: '/connection/today?provider_config_key=gh', headers: auth })).statusCode).toBe(200);
      const read = await database.knex('_custody_audit_log').where({ connection_id: 'today', action: 'credentials.read' }).first(database.knex.raw('tableoid::regclass::text AS partition'), 'at');
      const at = new Date(read.at as Date).getTime();
      const holds = (partition: AuditPartition) => !partition.isDefault && (partition.from?.getTime() ?? -Infinity) <= at && at < (partition.to?.getTime() ?? Infinity);
      const holding = (await new AuditPartitions(database.knex).list()).find(holds);
      expect(read.partition.replace(/^nango\./, '')).toBe(holding?.name);
    } finally {
      await test.close();
    }
  });

  it('writes an entry of a day partition\'s range into that day', async () => {
    await database.knex('_custody_audit_log').insert(entry('in-a-day', new Date(bound + 60 * 60 * 1000)));
    expect(await partitionOf(database, 'in-a-day')).toBe(partitionName(new Date(bound)));
  });

  it('keeps an entry older than every day in the earlier partition, and one far in the future in the default partition', async () => {
    await database.knex('_custody_audit_log').insert([entry('ancient', new Date('2001-02-03T04:05:06Z')), entry('future', new Date(Date.now() + 400 * DAY))]);
    expect(await partitionOf(database, 'ancient')).toBe(EARLIER);
    expect(await partitionOf(database, 'future')).toBe(DEFAULT_PARTITION);
  });

  it('moves default rows into a day partition when that day is created', async () => {
    const later = Date.now() + 30 * DAY;
    await database.knex('_custody_audit_log').insert(entry('next-month', new Date(later)));
    expect(await partitionOf(database, 'next-month')).toBe(DEFAULT_PARTITION);
    await new AuditPartitions(database.knex).createAhead(new Date(later));
    expect(await partitionOf(database, 'next-month')).toBe(partitionName(startOfDay(later)));
  });
});

describe('an entry no partition covers', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('lands in the default partition, and the credential read it records answers', async () => {
    const test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
    try {
      await test.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' } });
      await test.app.inject({ method: 'POST', url: '/connection', headers: auth, payload: { connection_id: 'uncovered', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't' } });
      // Every partition but the default one gone: no range covers today, as if no day had been created in time.
      const ranged = (await new AuditPartitions(database.knex).list()).filter((partition) => !partition.isDefault);
      await database.knex.raw(`DROP TABLE ${ranged.map((partition) => `nango.${partition.name}`).join(', ')}`);
      const read = await test.app.inject({ method: 'GET', url: '/connection/uncovered?provider_config_key=gh', headers: auth });
      expect(read.statusCode).toBe(200);
      const entries = await database.knex('_custody_audit_log').where({ connection_id: 'uncovered', action: 'credentials.read' }).select(database.knex.raw('tableoid::regclass::text AS partition'));
      expect(entries.map((row: { partition: string }) => row.partition.replace(/^nango\./, ''))).toEqual([DEFAULT_PARTITION]);
    } finally {
      await test.close();
    }
  });
});

describe('retention', () => {
  let database: TestDatabase;
  let test: TestApp | undefined;
  let blocker: pg.Client | undefined;

  beforeEach(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await blocker?.end();
    blocker = undefined;
    await test?.close();
    test = undefined;
    await database?.drop();
  });

  it('deletes what the earlier and default partitions hold past the retention in batches of at most 5,000 rows, never in one long DELETE', async () => {
    const partitions = new AuditPartitions(database.knex);
    await partitions.createAhead(new Date());
    const old = new Date(Date.now() - 400 * DAY);
    await database.knex.raw(`INSERT INTO nango._custody_audit_log (at, action, route, principal, provider_config_key, connection_id)
      SELECT ?::timestamptz + n * interval '1 second', 'credentials.read', 'GET /connection/:connectionId', 'secret_key', 'gh', 'old-' || n FROM generate_series(1, 12000) n`, [old]);
    await database.knex('_custody_audit_log').insert(entry('last-week', new Date(Date.now() - 7 * DAY)));
    // Entries of days no partition covers (past the week created ahead) land in the default partition.
    const uncovered = new Date(Date.now() + 15 * DAY);
    await database.knex.raw(`INSERT INTO nango._custody_audit_log (at, action, route, principal, provider_config_key, connection_id)
      SELECT ?::timestamptz + n * interval '1 second', 'credentials.read', 'GET /connection/:connectionId', 'secret_key', 'gh', 'uncovered-' || n FROM generate_series(1, 6000) n`, [uncovered]);
    const deletes: number[] = [];
    const watch = (response: unknown, query: { sql?: string }) => {
      if (/^\s*delete\b/i.test(query.sql ?? '')) deletes.push(response as number);
    };
    database.knex.on('query-response', watch);
    try {
      expect(await partitions.dropOlderThan(new Date(Date.now() - 365 * DAY))).toEqual({ dropped: [], postponed: [], deletedInBatches: 12_000 });
      expect(await partitionOf(database, 'last-week')).toBe(EARLIER);
      // A run a month on: the earlier partition and the days go whole, the default partition's rows in batches.
      const later = await partitions.dropOlderThan(new Date(uncovered.getTime() + DAY));
      expect(later.dropped).toContain(EARLIER);
      expect(later.deletedInBatches).toBe(6_000);
    } finally {
      database.knex.off('query-response', watch);
    }
    expect(deletes.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...deletes)).toBeLessThanOrEqual(PRUNE_BATCH);
    expect(deletes.reduce((sum, count) => sum + count, 0)).toBe(18_000);
    expect(await database.knex('_custody_audit_log').count({ count: '*' })).toEqual([{ count: '0' }]);
  });

  it('drops the days past the retention, and the earlier partition once all of it is, as whole partitions, and keeps the newer days', async () => {
    const partitions = new AuditPartitions(database.knex);
    await partitions.createAhead(new Date());
    const bound = await earlierBound(database);
    await database.knex('_custody_audit_log').insert([entry('earlier', new Date()), entry('first-day', new Date(bound + 1000)), entry('second-day', new Date(bound + DAY + 1000))]);
    const firstDay = partitionName(new Date(bound));

    // A later run, once the retention has passed the first day.
    const outcome = await partitions.dropOlderThan(new Date(bound + DAY));

    expect(outcome.dropped.sort()).toEqual([firstDay, EARLIER].sort());
    expect(outcome.postponed).toEqual([]);
    expect(outcome.deletedInBatches).toBe(0);
    expect(await partitions.names()).not.toContain(firstDay);
    expect(await partitions.names()).toContain(partitionName(new Date(bound + DAY)));
    expect(await partitionOf(database, 'earlier')).toBeUndefined();
    expect(await partitionOf(database, 'first-day')).toBeUndefined();
    expect(await partitionOf(database, 'second-day')).toBe(partitionName(new Date(bound + DAY)));
  });

  it('lets a credential read through while a long query keeps retention from its lock, and drops the partition afterwards', async () => {
    const partitions = new AuditPartitions(database.knex);
    const bound = await earlierBound(database);
    test = await buildTestApp(database, { NANGO_SECRET_KEY: 'audit-secret' });
    await test.app.inject({ method: 'POST', url: '/config', headers: auth, payload: { provider_config_key: 'gh', provider: 'github', oauth_client_id: 'id', oauth_client_secret: 'secret', oauth_scopes: 'repo' } });
    await test.app.inject({ method: 'POST', url: '/connection', headers: auth, payload: { connection_id: 'busy', provider_config_key: 'gh', type: 'OAUTH2', access_token: 't' } });

    // A long report over the whole trail: its transaction holds the table, as a slow dashboard query would.
    blocker = new pg.Client(database.connection);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM nango._custody_audit_log');

    const retention = partitions.dropOlderThan(new Date(bound));
    await waitForLockWait(database.knex);
    const read = await test.app.inject({ method: 'GET', url: '/connection/busy?provider_config_key=gh', headers: auth });
    expect(read.statusCode).toBe(200);
    // Answered, and its entry written, while the long query still holds the table.
    expect(await database.knex('_custody_audit_log').where({ connection_id: 'busy', action: 'credentials.read' })).toHaveLength(1);
    const blocked = await retention;
    expect(blocked.postponed).toContain(EARLIER);
    expect(await partitions.names()).toContain(EARLIER);

    await blocker.query('COMMIT');
    const next = await partitions.dropOlderThan(new Date(bound));
    expect(next.dropped).toContain(EARLIER);
    expect(await partitions.names()).not.toContain(EARLIER);
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

    // Each row as it was, counting the one entry it always stood for (the later migration's default).
    expect(await database.knex('_custody_audit_log').select('*').orderBy('id')).toEqual(rows.map((row) => ({ ...row, count: 1 })));
    expect(await partitionOf(database, 'last-year')).toBe(EARLIER);
    expect(await partitionOf(database, 'now')).toBe(EARLIER);
    const [next] = (await database.knex('_custody_audit_log').insert(entry('after', new Date())).returning('id')) as { id: string }[];
    expect(Number(next?.id)).toBeGreaterThan(Number(rows.at(-1)?.id));
  });
});
