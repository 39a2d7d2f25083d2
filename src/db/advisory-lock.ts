import pg from 'pg';

/** How long a process that finds the lock taken waits before it asks again. */
const RETRY_DELAY_MS = 250;

/**
 * Runs `work` while this process holds a transaction-scoped advisory lock, so processes that start at the same
 * moment on one database take turns (schema creation, migrations, encrypting existing rows) instead of racing.
 *
 * The lock lives in a transaction kept open on a client of its own, never in a session: behind a transaction-mode
 * pooler (PgBouncer, Supavisor, RDS Proxy) a session lock stays on whichever server connection the pooler lent,
 * held for ever after this process let go of it. A transaction keeps its server connection until it ends, and
 * ends (the lock with it) when the work is done, fails, or this process dies. A process that finds the lock taken
 * ends its transaction and asks again a moment later, so waiting processes hold no pooled connection that the
 * holder's migrations may need. The open transaction takes no snapshot between statements, so it holds back no
 * vacuum.
 */
export async function withAdvisoryLock<T>(connection: pg.ClientConfig, lockId: number, work: () => Promise<T>, onWait?: () => void): Promise<T> {
  for (let waited = false; ; waited = true) {
    const held = await withAdvisoryLockIfFree(connection, lockId, work);
    if (held.ran) return held.result;
    if (!waited) onWait?.();
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
  }
}

/** Runs `work` under the lock when it is free; `ran: false` at once when another process holds it. */
export async function withAdvisoryLockIfFree<T>(connection: pg.ClientConfig, lockId: number, work: () => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('BEGIN');
    // The transaction sits idle while the work runs on other connections: a database-wide idle limit must not end it.
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    const taken = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [lockId]);
    if (!taken.rows[0]?.locked) return { ran: false };
    const result = await work();
    await client.query('COMMIT');
    return { ran: true, result };
  } finally {
    // Ending the connection rolls back whatever is still open, the lock with it.
    await client.end().catch(() => undefined);
  }
}

/** Advisory lock ids used by the server; one place so two purposes never share an id. */
export const LOCK_IDS = {
  startup: 7_001_001,
  keyRotation: 7_001_002,
} as const;
