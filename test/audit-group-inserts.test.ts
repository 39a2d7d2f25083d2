import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA } from '../src/db/database.js';
import { AuditLogStore, type AuditEntry } from '../src/store/audit-log-store.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/**
 * Credential reads share group inserts of their audit entries, and more than one may be under way: a read that
 * arrives while another request's insert runs does not wait for that whole insert before its own starts, and
 * every read is answered only once its own entry is committed.
 */
let database: TestDatabase;

/** How long an entry whose connection is "held" keeps its insert under way (a slow disk, a busy database). */
const HOLD_MS = 1_500;

beforeAll(async () => {
  database = await createTestDatabase();
  // Only in this spec's own database: an insert carrying the connection "held" takes HOLD_MS.
  await database.knex.raw(`
    CREATE FUNCTION ${SCHEMA}.hold_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.connection_id = 'held' THEN PERFORM pg_sleep(${HOLD_MS / 1000}); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER hold_audit_insert BEFORE INSERT ON ${SCHEMA}._custody_audit_log FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.hold_audit_insert();
  `);
});

afterAll(async () => {
  await database?.drop();
});

function read(connectionId: string): AuditEntry {
  return { action: 'credentials.read', route: 'GET /connection/:connectionId', principal: 'secret_key', providerConfigKey: 'api', connectionId };
}

async function committed(connectionId: string): Promise<number> {
  const [row] = (await database.knex('_custody_audit_log').where({ connection_id: connectionId }).count({ count: '*' })) as { count: string }[];
  return Number(row?.count ?? 0);
}

/** Records the entry; resolves with when it was answered and whether its row was then visible to another session. */
async function recordAndLook(store: AuditLogStore, connectionId: string): Promise<{ at: number; visible: number }> {
  await store.record([read(connectionId)]);
  const at = performance.now();
  return { at, visible: await committed(connectionId) };
}

describe('group inserts of audit entries', () => {
  it("do not make a read wait behind another request's insert under way when a second may run", async () => {
    const store = new AuditLogStore(database.knex, 'off', 2);
    const held = recordAndLook(store, 'held');
    await sleep(200);
    const started = performance.now();
    const quick = await recordAndLook(store, 'quick-beside');
    expect(quick.at - started).toBeLessThan(HOLD_MS - 300);
    expect(quick.visible).toBe(1);
    expect((await held).visible).toBe(1);
  });

  it('run no more at once than allowed: beyond that a read waits for an insert to end, then goes in', async () => {
    const store = new AuditLogStore(database.knex, 'off', 1);
    const held = recordAndLook(store, 'held');
    await sleep(200);
    const quick = await recordAndLook(store, 'quick-behind');
    expect(quick.at).toBeGreaterThanOrEqual((await held).at);
    expect(quick.visible).toBe(1);
  });

  it('answer every one of many concurrent reads only once its own entry is committed', async () => {
    const store = new AuditLogStore(database.knex, 'off', 3);
    const reads = Array.from({ length: 300 }, (_, index) => `many-${index}`);
    const answers = await Promise.all(reads.map((connectionId) => recordAndLook(store, connectionId)));
    expect(answers.every((answer) => answer.visible === 1)).toBe(true);
  });

  it('fail every read that shared an insert that failed, none answered without its entry, and leave the next ones unharmed', async () => {
    const store = new AuditLogStore(database.knex, 'off', 2);
    // Longer than the column allows: the whole insert fails.
    const tooLong = read('x'.repeat(300));
    const outcomes = await Promise.allSettled([store.record([tooLong]), store.record([read('fine-after')])]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(await committed('fine-after')).toBe(0);
    await store.record([read('fine-later')]);
    expect(await committed('fine-later')).toBe(1);
  });

  it('report a failed group of entries written beside the answer once for the whole group, with its routes, and never reject', async () => {
    const store = new AuditLogStore(database.knex, 'off', 2);
    const used = (connectionId: string, route: string): AuditEntry => ({ ...read(connectionId), action: 'credentials.use', route });
    const first = store.recordLater([used('x'.repeat(300), 'GET /proxy/*')]);
    const second = store.recordLater([used('beside', 'POST /proxy/*')]);
    expect(second).toBe(first);
    await store.flush();
    const outcome = await first;
    expect(outcome.entries).toBe(2);
    expect(outcome.error).toBeDefined();
    expect(outcome.routes).toEqual(['GET /proxy/*', 'POST /proxy/*']);
    expect(await committed('beside')).toBe(0);
  });
});
