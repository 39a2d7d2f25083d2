import type { Knex } from 'knex';

/**
 * Custody: the audit trail becomes a table partitioned by `at`, so retention drops whole days instead of deleting
 * rows one by one, without rewriting or scanning the existing trail while it blocks anyone: in a rolling upgrade
 * an older release goes on serving, and each of its credential reads inserts an audit entry before it answers.
 *
 * The existing table keeps its rows where they are and becomes the partition of everything before a bound `B`
 * (the start of the UTC day after tomorrow by PostgreSQL's clock, a margin for a slow upgrade). The steps, each
 * in a short transaction of its own and each skipped when already done, so a run stopped half way can be rerun:
 * 1. `CHECK (at < B) NOT VALID` on the table: a catalog change (no scan) that needs a moment with the table. (B
 *    is later if an entry is dated later: then that entry's day is the last the old table holds.)
 * 2. `VALIDATE` that check: a scan, under a lock that lets inserts and reads go on.
 * 3. The swap, in one transaction of a few catalog changes: rename the table to `_custody_audit_log_earlier`,
 *    create the partitioned table under the old name (same columns, defaults and id sequence, same index names),
 *    attach the old table for [MINVALUE, B) (the validated check proves every row belongs, so nothing is scanned,
 *    and its indexes become the partitioned table's), and add an empty default partition.
 * The housekeeping then creates one partition per UTC day from B on (src/store/audit-partitions.ts). A fresh
 * install takes the same path from the empty table the earlier migration made, so both end in the same shape.
 *
 * No primary key on the partitioned table: one there must contain `at`, and giving the old table such a key means
 * building an index over the whole trail. Built plainly, that holds inserts for as long; built CONCURRENTLY, it
 * waits for every transaction holding a snapshot, the server's own start-up lock among them (src/db/advisory-lock.ts).
 * Each partition has a primary key on id instead (the old table keeps its own), and every id comes from one sequence.
 *
 * Why the old table is a bounded partition rather than the default one: a check on the default partition would
 * refuse every entry for a day no partition covers yet (a server whose housekeeping stopped for a week), where an
 * empty default takes such entries, and proving a new day absent from an almost empty default is a short scan.
 */
export const config = { transaction: false };

const SCHEMA = 'nango';
const TABLE = '_custody_audit_log';
const EARLIER = `${TABLE}_earlier`;
const DEFAULT_PARTITION = `${TABLE}_default`;
/** The check's name carries its bound's day, so a rerun knows which bound it validated. */
const BOUND_CHECK = /^_custody_audit_log_before_(\d{4})(\d{2})(\d{2})$/;
/** The earlier migration's index names, which the partitioned table takes over. */
const AT_INDEX = `${TABLE}_at_index`;
const CONNECTION_INDEX = `${TABLE}_provider_config_key_connection_id_id_index`;

/**
 * How long a step waits for the table: statements that arrive meanwhile queue behind the waiting step, so it
 * gives up quickly, lets them through and tries again.
 */
const LOCK_TIMEOUT = '200ms';
const ATTEMPTS = 300;
const PAUSE_MS = 200;

const qualified = (name: string) => `${SCHEMA}.${name}`;

export async function up(knex: Knex): Promise<void> {
  if ((await relationKind(knex, TABLE)) !== 'r') return;
  try {
    const bound = await addBoundCheck(knex);
    await validateBoundCheck(knex);
    await swap(knex, bound);
  } catch (error) {
    // A check left on the unpartitioned table would refuse entries from its bound on: take it away.
    await briefly(knex, async (trx) => {
      if ((await relationKind(trx, TABLE)) === 'r') for (const check of await boundChecks(trx)) await trx.raw(`ALTER TABLE ${qualified(TABLE)} DROP CONSTRAINT ${check.name}`);
    }).catch(() => undefined);
    throw error;
  }
}

/** Step 1; keeps a check from a stopped run whose bound is still more than an hour away. */
async function addBoundCheck(knex: Knex): Promise<Date> {
  return briefly(knex, async (trx) => {
    // After the newest entry's day too, should one be dated ahead (a clock once far off), or the check would not hold.
    const { rows } = (await trx.raw(
      `SELECT now() + interval '1 hour' AS soon,
              to_char(greatest((now() AT TIME ZONE 'UTC') + interval '2 days', (SELECT max(at) FROM ${qualified(TABLE)}) AT TIME ZONE 'UTC' + interval '1 day'), 'YYYY-MM-DD') AS bound_day`,
    )) as { rows: { soon: Date; bound_day: string }[] };
    const soon = rows[0]?.soon as Date;
    for (const check of await boundChecks(trx)) {
      if (check.bound > soon) return check.bound;
      await trx.raw(`ALTER TABLE ${qualified(TABLE)} DROP CONSTRAINT ${check.name}`);
    }
    const bound = new Date(`${rows[0]?.bound_day as string}T00:00:00Z`);
    const name = `${TABLE}_before_${bound.toISOString().slice(0, 10).replaceAll('-', '')}`;
    await trx.raw(`ALTER TABLE ${qualified(TABLE)} ADD CONSTRAINT ${name} CHECK (at < '${bound.toISOString()}'::timestamptz) NOT VALID`);
    return bound;
  });
}

/** Step 2: SHARE UPDATE EXCLUSIVE, which inserts (ROW EXCLUSIVE) and reads (ACCESS SHARE) do not wait for. */
async function validateBoundCheck(knex: Knex): Promise<void> {
  for (const check of await boundChecks(knex)) {
    if (!check.validated) await briefly(knex, (trx) => trx.raw(`ALTER TABLE ${qualified(TABLE)} VALIDATE CONSTRAINT ${check.name}`), '2s');
  }
}

/** Step 3: catalog changes only, under one short ACCESS EXCLUSIVE lock on the old table. */
async function swap(knex: Knex, bound: Date): Promise<void> {
  await briefly(knex, async (trx) => {
    await trx.raw(`LOCK TABLE ${qualified(TABLE)} IN ACCESS EXCLUSIVE MODE`);
    if ((await relationKind(trx, TABLE)) !== 'r') return;
    await trx.raw(`ALTER TABLE ${qualified(TABLE)} RENAME TO ${EARLIER}`);
    await trx.raw(`ALTER TABLE ${qualified(EARLIER)} RENAME CONSTRAINT ${TABLE}_pkey TO ${EARLIER}_pkey`);
    await trx.raw(`ALTER INDEX ${qualified(AT_INDEX)} RENAME TO ${EARLIER}_at_index`);
    await trx.raw(`ALTER INDEX ${qualified(CONNECTION_INDEX)} RENAME TO ${EARLIER}_connection_index`);

    // LIKE keeps the columns, their types, NOT NULLs and defaults (the id's sequence among them) as they are.
    await trx.raw(`CREATE TABLE ${qualified(TABLE)} (LIKE ${qualified(EARLIER)} INCLUDING DEFAULTS) PARTITION BY RANGE (at)`);
    await trx.raw(`CREATE INDEX ${AT_INDEX} ON ${qualified(TABLE)} (at)`);
    await trx.raw(`CREATE INDEX ${CONNECTION_INDEX} ON ${qualified(TABLE)} (provider_config_key, connection_id, id)`);
    // The sequence follows the partitioned table, so dropping the earlier partition one day leaves it in place.
    const sequence = (await trx.raw(`SELECT pg_get_serial_sequence(?, 'id') AS name`, [qualified(EARLIER)])) as { rows: { name: string | null }[] };
    const sequenceName = sequence.rows[0]?.name;
    if (sequenceName) await trx.raw(`ALTER SEQUENCE ${sequenceName} OWNED BY ${qualified(TABLE)}.id`);
    // Each index of the partitioned table finds its match on the old table and adopts it: nothing is built.
    await trx.raw(`ALTER TABLE ${qualified(TABLE)} ATTACH PARTITION ${qualified(EARLIER)} FOR VALUES FROM (MINVALUE) TO ('${bound.toISOString()}')`);
    await trx.raw(`CREATE TABLE ${qualified(DEFAULT_PARTITION)} PARTITION OF ${qualified(TABLE)} (PRIMARY KEY (id)) DEFAULT`);
  });
}

/**
 * Runs `work` in a transaction that waits at most `lockTimeout` for a lock; when it did not get one, it pauses
 * (the statements queued behind it go through) and tries again, up to ATTEMPTS times.
 */
async function briefly<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>, lockTimeout = LOCK_TIMEOUT): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await knex.transaction(async (trx) => {
        await trx.raw(`SET LOCAL lock_timeout = '${lockTimeout}'`);
        return work(trx);
      });
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      if (attempt >= ATTEMPTS) {
        throw new Error(
          `Partitioning the audit log (${qualified(TABLE)}) gave up: a long-running transaction kept the table for ${((ATTEMPTS * PAUSE_MS) / 1000).toFixed(0)} s. End it (pg_stat_activity shows it) and start the server again; the migration continues where it stopped.`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
  }
}

async function boundChecks(knex: Knex): Promise<{ name: string; bound: Date; validated: boolean }[]> {
  const { rows } = (await knex.raw(`SELECT conname AS name, convalidated AS validated FROM pg_constraint WHERE conrelid = to_regclass(?) AND contype = 'c'`, [qualified(TABLE)])) as {
    rows: { name: string; validated: boolean }[];
  };
  return rows.flatMap((row) => {
    const match = BOUND_CHECK.exec(row.name);
    return match ? [{ name: row.name, validated: row.validated, bound: new Date(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`) }] : [];
  });
}

async function relationKind(knex: Knex, name: string): Promise<string | undefined> {
  const result = (await knex.raw(`SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?`, [SCHEMA, name])) as {
    rows: { relkind: string }[];
  };
  return result.rows[0]?.relkind;
}

/** Back to one plain table (a copy of every row: for development databases, not for a large trail). */
export async function down(knex: Knex): Promise<void> {
  if ((await relationKind(knex, TABLE)) !== 'p') return;
  await knex.transaction(async (trx) => {
    await trx.raw(`ALTER TABLE ${qualified(TABLE)} RENAME TO ${TABLE}_partitioned`);
    for (const index of [AT_INDEX, CONNECTION_INDEX]) await trx.raw(`ALTER INDEX ${qualified(index)} RENAME TO ${index.replace(TABLE, `${TABLE}_p`)}`);
    await trx.raw(`CREATE TABLE ${qualified(TABLE)} (LIKE ${qualified(`${TABLE}_partitioned`)} INCLUDING DEFAULTS)`);
    await trx.raw(`ALTER TABLE ${qualified(TABLE)} ADD CONSTRAINT ${TABLE}_pkey PRIMARY KEY (id)`);
    await trx.raw(`CREATE INDEX ${AT_INDEX} ON ${qualified(TABLE)} (at)`);
    await trx.raw(`CREATE INDEX ${CONNECTION_INDEX} ON ${qualified(TABLE)} (provider_config_key, connection_id, id)`);
    const sequence = (await trx.raw(`SELECT pg_get_serial_sequence(?, 'id') AS name`, [qualified(`${TABLE}_partitioned`)])) as { rows: { name: string | null }[] };
    const sequenceName = sequence.rows[0]?.name;
    if (sequenceName) await trx.raw(`ALTER SEQUENCE ${sequenceName} OWNED BY ${qualified(TABLE)}.id`);
    await trx.raw(`INSERT INTO ${qualified(TABLE)} SELECT * FROM ${qualified(`${TABLE}_partitioned`)}`);
    await trx.raw(`DROP TABLE ${qualified(`${TABLE}_partitioned`)}`);
  });
}
