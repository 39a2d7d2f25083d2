import type { Knex } from 'knex';
import type pg from 'pg';
import type { QueryTimeouts } from '../config.js';

/**
 * How long the serving pool lets a statement run. Two limits, because they catch different faults:
 *
 * - `statementMs`, on the database's side (PostgreSQL's statement_timeout): a statement that runs too long on
 *   a live database (a lock wait, a runaway plan) is cancelled there and its resources freed.
 * - `queryMs`, on this side: a frozen database (a stopped process, a network path that silently drops
 *   packets) cannot cancel anything, so a query without any answer for this long is given up and its
 *   connection closed; the pool opens a fresh one for the next request.
 *
 * 0 turns either off. Migrations, encrypting existing rows and key rotation run on a pool without them.
 */
export type { QueryTimeouts };

/** How long opening a pooled connection may take: a frozen database accepts TCP connections but never answers them. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** The per-query option (knex's `.options()`, pg's own name for it) that gives one query a deadline of its own. */
const DEADLINE_OPTION = 'query_timeout';

/** A query given up because the database did not answer in time; a 503 like any unreachable database. */
export class DatabaseDeadlineError extends Error {
  override name = 'DatabaseDeadlineError';
  /** The code isDatabaseUnavailable and the start-up retry already treat as "not reachable". */
  readonly code = 'ETIMEDOUT';

  constructor(deadlineMs: number) {
    super(`The database did not answer within ${deadlineMs} ms (NANGO_DB_QUERY_TIMEOUT_MS); its connection was closed.`);
  }
}

/**
 * The serving pool's connection settings. The statement timeout is set here, and only here, as a startup
 * parameter: it costs no round trip and holds from the first statement. A transaction pooler refuses startup
 * parameters (PgBouncer: "unsupported startup parameter"), so through one (`startupParameters: false`) the
 * limit needs another carrier — the database role's own setting (`ALTER ROLE … SET statement_timeout`) or the
 * pooler's `query_timeout` — and the query deadline on this side still holds.
 */
export function boundedConnection(connection: pg.ClientConfig, timeouts: QueryTimeouts, options: { startupParameters: boolean } = { startupParameters: true }): pg.ClientConfig {
  return {
    ...connection,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...(timeouts.statementMs > 0 && options.startupParameters ? { statement_timeout: timeouts.statementMs } : {}),
  };
}

/**
 * Gives every query on this pooled connection a deadline (knex's `afterCreate`). pg's own `query_timeout`
 * rejects the query but leaves the connection waiting for the late answer, so the pool would hand the stuck
 * connection to the next request; here the connection is closed, and knex drops it from the pool.
 */
export function enforceQueryDeadline(client: pg.Client, defaultDeadlineMs: number): void {
  type Callback = (error: Error | null, result?: unknown) => void;
  // pg's query() has a dozen overloads; this forwards them all unchanged apart from the deadline.
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const close = (): void => closeConnectionNow(client);
  const deadlined = (...args: unknown[]): unknown => {
    const [config] = args;
    // Streams and other submittables manage their own lifetime.
    if (typeof config === 'object' && config !== null && typeof (config as { submit?: unknown }).submit === 'function') return query(...args);
    const own = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)[DEADLINE_OPTION] : undefined;
    const deadlineMs = typeof own === 'number' ? own : defaultDeadlineMs;
    // Handled here, not by pg as well (its timer would leave the connection stuck).
    if (own !== undefined) args[0] = { ...(config as object), [DEADLINE_OPTION]: undefined };
    if (deadlineMs <= 0) return query(...args);

    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      const callback = last as Callback;
      args[args.length - 1] = (error: Error | null, result?: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        callback(error, result);
      };
      timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        callback(new DatabaseDeadlineError(deadlineMs));
        close();
      }, deadlineMs);
      return query(...args);
    }
    const answer = query(...args) as Promise<unknown>;
    return new Promise((resolve, reject) => {
      timer = setTimeout(() => {
        settled = true;
        reject(new DatabaseDeadlineError(deadlineMs));
        close();
      }, deadlineMs);
      answer.then(
        (result) => {
          clearTimeout(timer);
          if (!settled) resolve(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!settled) reject(error as Error);
        },
      );
    });
  };
  (client as unknown as { query: typeof deadlined }).query = deadlined;
}

/** Closes a client's socket at once: `end()` would wait for a goodbye a frozen database never sends. */
export function closeConnectionNow(client: pg.Client): void {
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
}

/**
 * Runs one statement of a transaction that may legitimately wait up to `waitMs` for a lock held by another
 * process (a token refresh holding its lock across the provider's answer), with both limits raised for it
 * alone and put back for the rest of the transaction.
 */
export async function runWaitingStatement(trx: Knex.Transaction, timeouts: QueryTimeouts, waitMs: number, sql: string, bindings: readonly Knex.RawBinding[]): Promise<void> {
  if (timeouts.statementMs > 0) await trx.raw(`SELECT set_config('statement_timeout', ?, true)`, [String(waitMs + timeouts.statementMs)]);
  const deadline = timeouts.queryMs > 0 ? waitMs + timeouts.queryMs : 0;
  await trx.raw(sql, bindings).options({ [DEADLINE_OPTION]: deadline });
  if (timeouts.statementMs > 0) await trx.raw(`SELECT set_config('statement_timeout', ?, true)`, [String(timeouts.statementMs)]);
}
