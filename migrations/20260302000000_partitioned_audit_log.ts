import type { Knex } from 'knex';

/**
 * Custody: the audit trail becomes a table partitioned by day (of `at`, in UTC), so retention drops whole days
 * instead of deleting rows one by one. Existing rows are copied into the partitions of their days; a default
 * partition takes any row no day partition covers. The housekeeping creates the days ahead from then on
 * (src/store/audit-partitions.ts, which names partitions the same way).
 */
const SCHEMA = 'nango';
const TABLE = '_custody_audit_log';
const OLD = '_custody_audit_log_unpartitioned';
const DAY_MS = 24 * 60 * 60 * 1000;
/** Days ahead of today created here; the housekeeping keeps the same lead. */
const DAYS_AHEAD = 7;

const qualified = (name: string) => `${SCHEMA}.${name}`;
const partitionName = (day: Date) => `${TABLE}_${day.toISOString().slice(0, 10).replaceAll('-', '')}`;
const startOfDay = (at: Date) => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);

export async function up(knex: Knex): Promise<void> {
  const kind = await relationKind(knex, TABLE);
  if (kind === 'p') return;
  if (kind === undefined) {
    // Not reachable through the earlier migration, which creates the table; kept so the result is the same.
    await knex.raw(`CREATE TABLE ${qualified(OLD)} (
      id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), action varchar(255) NOT NULL,
      route varchar(255) NOT NULL, principal varchar(255) NOT NULL, provider_config_key varchar(255),
      connection_id varchar(255), details jsonb)`);
    await knex.raw(`ALTER SEQUENCE ${qualified(OLD)}_id_seq RENAME TO ${TABLE}_id_seq`);
  } else {
    await knex.raw(`ALTER TABLE ${qualified(TABLE)} RENAME TO ${OLD}`);
  }
  // Free the old index names for the new table's; the copy below needs none of them.
  const indexes = (await knex.raw(
    `SELECT indexrelid::regclass::text AS name, EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid) AS constraint_index
       FROM pg_index WHERE indrelid = ?::regclass`,
    [qualified(OLD)],
  )) as { rows: { name: string; constraint_index: boolean }[] };
  for (const index of indexes.rows.filter((row) => !row.constraint_index)) await knex.raw(`DROP INDEX ${index.name}`);
  await knex.raw(`ALTER TABLE ${qualified(OLD)} DROP CONSTRAINT IF EXISTS ${TABLE}_pkey`);

  // LIKE keeps the columns, their types, NOT NULLs and defaults (the id's sequence among them) as they are.
  await knex.raw(`CREATE TABLE ${qualified(TABLE)} (LIKE ${qualified(OLD)} INCLUDING DEFAULTS) PARTITION BY RANGE (at)`);
  await knex.raw(`ALTER TABLE ${qualified(TABLE)} ADD CONSTRAINT ${TABLE}_pkey PRIMARY KEY (id, at)`);
  await knex.raw(`CREATE INDEX ${TABLE}_connection_index ON ${qualified(TABLE)} (provider_config_key, connection_id, id)`);
  const sequence = (await knex.raw(`SELECT pg_get_serial_sequence(?, 'id') AS name`, [qualified(OLD)])) as { rows: { name: string | null }[] };
  const sequenceName = sequence.rows[0]?.name;
  if (sequenceName) await knex.raw(`ALTER SEQUENCE ${sequenceName} OWNED BY ${qualified(TABLE)}.id`);
  await knex.raw(`CREATE TABLE ${qualified(`${TABLE}_default`)} PARTITION OF ${qualified(TABLE)} DEFAULT`);

  const days = new Set<number>();
  const today = startOfDay(new Date()).getTime();
  for (let ahead = 0; ahead <= DAYS_AHEAD; ahead += 1) days.add(today + ahead * DAY_MS);
  const existing = (await knex.raw(`SELECT DISTINCT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM ${qualified(OLD)}`)) as { rows: { day: string }[] };
  for (const row of existing.rows) days.add(new Date(`${row.day}T00:00:00Z`).getTime());
  for (const day of [...days].sort((a, b) => a - b)) {
    const from = new Date(day);
    const to = new Date(day + DAY_MS);
    await knex.raw(`CREATE TABLE ${qualified(partitionName(from))} PARTITION OF ${qualified(TABLE)} FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`);
  }

  const columns = (await knex.raw(
    `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS list FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped`,
    [qualified(OLD)],
  )) as { rows: { list: string }[] };
  const list = columns.rows[0]?.list ?? '';
  await knex.raw(`INSERT INTO ${qualified(TABLE)} (${list}) SELECT ${list} FROM ${qualified(OLD)}`);
  await knex.raw(`DROP TABLE ${qualified(OLD)}`);
}

export async function down(knex: Knex): Promise<void> {
  if ((await relationKind(knex, TABLE)) !== 'p') return;
  await knex.raw(`ALTER TABLE ${qualified(TABLE)} RENAME TO ${OLD}`);
  await knex.raw(`ALTER TABLE ${qualified(OLD)} RENAME CONSTRAINT ${TABLE}_pkey TO ${OLD}_pkey`);
  await knex.raw(`ALTER INDEX ${qualified(`${TABLE}_connection_index`)} RENAME TO ${OLD}_connection_index`);
  await knex.raw(`CREATE TABLE ${qualified(TABLE)} (LIKE ${qualified(OLD)} INCLUDING DEFAULTS)`);
  await knex.raw(`ALTER TABLE ${qualified(TABLE)} ADD PRIMARY KEY (id)`);
  await knex.raw(`CREATE INDEX ${TABLE}_at_index ON ${qualified(TABLE)} (at)`);
  await knex.raw(`CREATE INDEX ${TABLE}_provider_config_key_connection_id_id_index ON ${qualified(TABLE)} (provider_config_key, connection_id, id)`);
  const sequence = (await knex.raw(`SELECT pg_get_serial_sequence(?, 'id') AS name`, [qualified(OLD)])) as { rows: { name: string | null }[] };
  const sequenceName = sequence.rows[0]?.name;
  if (sequenceName) await knex.raw(`ALTER SEQUENCE ${sequenceName} OWNED BY ${qualified(TABLE)}.id`);
  await knex.raw(`INSERT INTO ${qualified(TABLE)} SELECT * FROM ${qualified(OLD)}`);
  await knex.raw(`DROP TABLE ${qualified(OLD)} CASCADE`);
}

async function relationKind(knex: Knex, name: string): Promise<string | undefined> {
  const result = (await knex.raw(
    `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?`,
    [SCHEMA, name],
  )) as { rows: { relkind: string }[] };
  return result.rows[0]?.relkind;
}
