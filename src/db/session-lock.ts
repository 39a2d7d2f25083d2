import pg from 'pg';

/**
 * Runs `work` while holding a session-level advisory lock on a dedicated connection, so processes that start
 * at the same moment on one database take turns (schema creation, migrations, encrypting existing rows)
 * instead of racing. The lock is released when the connection ends, even if this process dies.
 */
export async function withSessionLock<T>(connection: pg.ClientConfig, lockId: number, work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockId]);
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Like withSessionLock, but gives up at once (returns undefined) when another process holds the lock. */
export async function withSessionLockIfFree<T>(connection: pg.ClientConfig, lockId: number, work: () => Promise<T>): Promise<T | undefined> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [lockId]);
    if (!result.rows[0]?.locked) return undefined;
    return await work();
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Advisory lock ids used by the server; one place so two purposes never share an id. */
export const LOCK_IDS = {
  startup: 7_001_001,
  keyRotation: 7_001_002,
} as const;
