import type { Knex } from 'knex';
import type pg from 'pg';

/**
 * A statement every credential read runs, prepared once per pooled connection and run without knex's query
 * builder and runner. Measured on the credential-read path (see docs/performance.md), parsing and planning the
 * statement anew and knex's per-query work were most of the request's database time; a named statement on a
 * connection of the same pool removes both. Only for a few fixed hot statements: everything else uses knex.
 *
 * The text must list its columns (no `*`): PostgreSQL refuses to run a prepared statement whose result shape
 * changed under it, as a migration adding a column would do while a server is running.
 */
export interface PreparedStatement {
  /** Unique per statement text: PostgreSQL keeps prepared statements by name on each connection. */
  name: string;
  text: string;
  /**
   * `array`: each row comes as an array of its values in the statement's column order. pg builds its row objects
   * from a prototype-less template, which makes every row a slow dictionary object; a hot statement whose rows are
   * copied into objects of their own anyway skips that.
   */
  rowMode?: 'array';
}

/** The part of knex's client this needs: its pool of pg connections, and its query event. */
interface PooledClient {
  acquireConnection(): Promise<pg.ClientBase>;
  releaseConnection(connection: pg.ClientBase): Promise<void>;
  emit(event: 'query', query: { sql: string; bindings: unknown[] }): boolean;
}

/** knex clients whose statements must go unnamed: a transaction pooler lends another server connection each time. */
const unnamedStatementClients = new WeakSet<object>();

/**
 * Behind a transaction pooler a statement prepared on one server connection is unknown on the next ("prepared
 * statement does not exist") or already there for another client ("already exists"): this pool's hot statements
 * then run unnamed, parsed each time, which is what every other statement does anyway.
 */
export function runStatementsUnnamed(knex: Knex): void {
  unnamedStatementClients.add(knex.client as object);
}

export async function runPrepared<Row extends pg.QueryResultRow>(knex: Knex, statement: PreparedStatement, values: unknown[]): Promise<Row[]> {
  // knex exposes its pool only through its client object; the two methods are the ones its own runner uses.
  const client = knex.client as unknown as PooledClient;
  // Listeners of knex's `query` event (debug logging, the query-plan spec) see these statements like any other.
  client.emit('query', { sql: statement.text, bindings: values });
  const connection = await client.acquireConnection();
  try {
    const named = !unnamedStatementClients.has(client);
    const rowMode = statement.rowMode === 'array' ? { rowMode: 'array' } : {};
    const result = await connection.query<Row>(named ? { name: statement.name, text: statement.text, values, ...rowMode } : { text: statement.text, values, ...rowMode });
    return result.rows;
  } finally {
    await client.releaseConnection(connection);
  }
}
