import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLogStore, type AuditEntry } from '../src/store/audit-log-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/**
 * Entries of one group insert that agree in every column become one row with their number (`count`): they were
 * written by one statement, so they already shared their time. A busy proxy or a burst of reads of one
 * connection by one caller costs one row, and summing `count` still gives every use and every read.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

function used(connectionId: string, status = 200): AuditEntry {
  return { action: 'credentials.use', route: 'GET /proxy/*', principal: 'secret_key', providerConfigKey: 'api', connectionId, details: { method: 'GET', upstream: 'http://127.0.0.1:9/items', status } };
}

function read(connectionId: string, principal = 'secret_key'): AuditEntry {
  return { action: 'credentials.read', route: 'GET /connection/:connectionId', principal, providerConfigKey: 'api', connectionId };
}

async function rowsOf(connectionId: string): Promise<{ principal: string; count: number; details: Record<string, unknown> | null; at: Date }[]> {
  return database.knex('_custody_audit_log').where({ connection_id: connectionId }).orderBy('id').select('principal', 'count', 'details', 'at');
}

describe('the audit trail, for identical entries written together', () => {
  it('writes a hundred identical proxied calls of one moment as one row counting a hundred', async () => {
    const store = new AuditLogStore(database.knex);
    for (let call = 0; call < 100; call += 1) void store.recordLater([used('busy')]);
    await store.flush();
    const rows = await rowsOf('busy');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ count: 100, details: { method: 'GET', upstream: 'http://127.0.0.1:9/items', status: 200 } });
  });

  it('reports every folded entry in the outcome of the group, not the rows', async () => {
    const store = new AuditLogStore(database.knex);
    const outcome = store.recordLater([used('counted'), used('counted'), used('counted', 502)]);
    await store.flush();
    expect((await outcome).entries).toBe(3);
  });

  it('keeps calls that differ in anything as rows of their own (here the upstream status)', async () => {
    const store = new AuditLogStore(database.knex);
    void store.recordLater([used('mixed'), used('mixed', 502), used('mixed'), used('mixed', 502), used('mixed', 429)]);
    await store.flush();
    const rows = await rowsOf('mixed');
    expect(rows.map((row) => [row.details?.['status'], row.count])).toEqual([
      [200, 2],
      [502, 2],
      [429, 1],
    ]);
  });

  it('answers every one of many concurrent identical credential reads after a committed row that counts it', async () => {
    const store = new AuditLogStore(database.knex, 'off', 1);
    const answered = await Promise.all(
      Array.from({ length: 50 }, async () => {
        await store.record([read('burst')]);
        return (await rowsOf('burst')).reduce((sum, row) => sum + row.count, 0);
      }),
    );
    // Each read saw, when answered, a committed count that includes itself; all 50 are counted in the end.
    expect(Math.min(...answered)).toBeGreaterThanOrEqual(1);
    const rows = await rowsOf('burst');
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(50);
    expect(rows.length).toBeLessThan(50);
  });

  it('never folds the reads of two callers into one row', async () => {
    const store = new AuditLogStore(database.knex);
    await Promise.all([store.record([read('two-callers', 'secret_key')]), store.record([read('two-callers', 'dashboard:alice')]), store.record([read('two-callers', 'secret_key')])]);
    const rows = await rowsOf('two-callers');
    expect(rows.map((row) => [row.principal, row.count]).sort()).toEqual([
      ['dashboard:alice', 1],
      ['secret_key', 2],
    ]);
  });

  it('counts an entry alone, and one written inside a transaction, as 1', async () => {
    const store = new AuditLogStore(database.knex);
    await store.record([read('alone')]);
    await database.knex.transaction((trx) => store.record([read('alone')], trx));
    expect((await rowsOf('alone')).map((row) => row.count)).toEqual([1, 1]);
  });

  it('lists the count with each entry', async () => {
    const store = new AuditLogStore(database.knex);
    void store.recordLater([used('listed'), used('listed')]);
    await store.flush();
    const [entry] = await store.list({ connectionId: 'listed', limit: 10 });
    expect(entry).toMatchObject({ action: 'credentials.use', count: 2 });
  });
});
