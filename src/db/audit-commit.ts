/**
 * How long an audit insert's commit waits (NANGO_AUDIT_SYNCHRONOUS_COMMIT, docs/security.md "Audit trail
 * durability"). Either way the entry is committed, visible to every session and safe from the server process
 * dying, before the answer it describes leaves.
 * - `off` (the default): the commit does not wait for PostgreSQL to flush its write-ahead log to disk. A crash of
 *   PostgreSQL itself or of its machine can lose the entries of the last moments before it (at most three times
 *   `wal_writer_delay`, 0.6 s by default); the database stays consistent. Everything else keeps the database's own
 *   setting.
 * - `on`: the commit follows the database's own setting (PostgreSQL's default waits for the flush), so every
 *   answered read's entry also survives a PostgreSQL crash, at the price of one disk flush per group insert.
 */
export type AuditSynchronousCommit = 'on' | 'off';

/**
 * Wraps an `INSERT … SELECT … FROM <source>` statement so that, with `off`, the statement's own transaction
 * relaxes its commit: `set_config(…, true)` lasts until that transaction ends, and PostgreSQL reads
 * `synchronous_commit` when it commits, before it undoes the setting. One statement, one round trip, and no setting
 * left on the connection, so it works the same through a transaction-mode pooler.
 */
export function auditInsertText(insertInto: string, select: string, source: string, synchronousCommit: AuditSynchronousCommit): string {
  if (synchronousCommit === 'on') return `${insertInto} SELECT ${select} FROM ${source}`;
  return `WITH commit_mode AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
    ${insertInto} SELECT ${select} FROM commit_mode, ${source}`;
}
