import type { Knex } from 'knex';
import type pg from 'pg';

/**
 * How long an audit insert's commit waits (NANGO_AUDIT_SYNCHRONOUS_COMMIT, docs/security.md "Audit trail
 * durability"). Either way the entry is committed, visible to every session and safe from the server process
 * dying, before the answer it describes leaves.
 * - `off` (the default): the commit does not wait for PostgreSQL to flush its write-ahead log to disk. A crash of
 *   PostgreSQL itself or of its machine can lose the entries of the last moments before it (at most three times
 *   `wal_writer_delay`, 0.6 s by default); the database stays consistent. Everything else keeps the database's own
 *   setting.
 * - `on`: the commit waits for the flush, as the database's default does; every answered read's entry also survives
 *   a PostgreSQL crash, at the price of one disk flush per group insert on the read path.
 */
export type AuditSynchronousCommit = 'on' | 'off';

/** The part of knex's client this needs: its pool of pg connections and its query event (as src/db/prepared-statement.ts). */
interface PooledClient {
  acquireConnection(): Promise<pg.ClientBase & { __knex__disposed?: unknown }>;
  releaseConnection(connection: pg.ClientBase): Promise<void>;
  emit(event: 'query', query: { sql: string; bindings: unknown[] }): boolean;
}

/**
 * Runs one insert as its own transaction with the given commit mode. Unnamed statements and `SET LOCAL` only, so
 * it works the same through a transaction-mode pooler: the setting ends with the transaction.
 */
export async function insertCommitted(knex: Knex, text: string, values: unknown[], synchronousCommit: AuditSynchronousCommit): Promise<void> {
  const client = knex.client as unknown as PooledClient;
  client.emit('query', { sql: text, bindings: values });
  const connection = await client.acquireConnection();
  try {
    if (synchronousCommit === 'on') {
      await connection.query({ text, values });
      return;
    }
    // One round trip opens the transaction and relaxes its commit; the setting never outlives it.
    await connection.query('BEGIN; SET LOCAL synchronous_commit TO off');
    try {
      await connection.query({ text, values });
      await connection.query('COMMIT');
    } catch (error) {
      await connection.query('ROLLBACK').catch((rollbackError: unknown) => {
        // A connection that cannot roll back is not given to the next caller: knex's pool destroys it.
        connection.__knex__disposed = rollbackError;
      });
      throw error;
    }
  } finally {
    await client.releaseConnection(connection);
  }
}
