import pg from 'pg';
import type { DatabasePooling } from '../config-database-pooling.js';
import { closeConnectionNow } from './query-timeouts.js';

/**
 * What the server knows about the path to PostgreSQL. Behind a transaction-mode pooler (PgBouncer
 * `pool_mode = transaction`, Supavisor and Supabase's port 6543, RDS Proxy) each transaction may run on a
 * different server connection, so the server keeps no state in a session: no named prepared statements, no
 * session settings (tables are named with their schema), advisory locks only inside transactions, and LISTEN
 * only on a direct connection (NANGO_DATABASE_DIRECT_URL) or not at all.
 */
export interface Pooling {
  transactionPooler: boolean;
  /** How that was decided: the operator's NANGO_DB_POOLER, or what the connection showed at start. */
  decidedBy: 'setting' | 'detected' | 'default';
  /** Why a pooler was detected, in words, for the start-up line. */
  evidence?: string;
  /** A direct connection to the same database (NANGO_DATABASE_DIRECT_URL), checked at start. */
  direct: pg.ClientConfig | undefined;
  /** The statement timeout the database applies on its own (role or database setting), read through the pooler. */
  databaseStatementTimeout?: string;
}

/** Host names of poolers that answer with a backend key of their own only sometimes: known by name instead. */
const POOLER_HOSTS: { pattern: RegExp; name: string }[] = [
  { pattern: /\.pooler\.supabase\.com$/i, name: "Supabase's pooler" },
  { pattern: /\.proxy-[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/i, name: 'RDS Proxy' },
];

/** Supabase's (and Supavisor's) transaction-mode port. */
const SUPAVISOR_TRANSACTION_PORT = 6543;

/**
 * Decides whether a transaction pooler is in the way, and checks that a direct URL reaches the same database.
 * Throws an Error with one plain-English line when the direct URL points elsewhere.
 */
export async function decidePooling(pooling: DatabasePooling, connection: pg.ClientConfig): Promise<Pooling> {
  const direct = pooling.directUrl ? { connectionString: pooling.directUrl, ...(connection.ssl ? { ssl: connection.ssl } : {}) } : undefined;
  const seen = await inspect(connection);
  if (direct) {
    const reached = await inspect(direct).catch((error: unknown) => {
      throw new Error(`NANGO_DATABASE_DIRECT_URL cannot be reached (${(error as Error).message}); check its host, port and password, or remove it.`);
    });
    if (reached.identity !== seen.identity) {
      throw new Error(
        `NANGO_DATABASE_DIRECT_URL reaches a different database (${reached.name}) than NANGO_DATABASE_URL (${seen.name}); both must name the same database, one through the pooler and one directly.`,
      );
    }
  }
  const base = { direct, databaseStatementTimeout: seen.statementTimeout };
  if (pooling.setting !== 'detect') return { ...base, transactionPooler: pooling.setting === 'transaction', decidedBy: 'setting' };
  const evidence = poolerEvidence(connection, seen);
  return evidence ? { ...base, transactionPooler: true, decidedBy: 'detected', evidence } : { ...base, transactionPooler: false, decidedBy: 'default' };
}

interface Inspection {
  /** The database and the server it lives on: equal for two connections that reach the same database. */
  identity: string;
  name: string;
  /** The backend that answered, and the one the connection announced at start; a pooler announces its own. */
  backendPid: number;
  announcedPid: number | undefined;
  statementTimeout: string;
}

async function inspect(connection: pg.ClientConfig): Promise<Inspection> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ name: string; started: string; oid: string; pid: number; timeout: string }>(
      `SELECT current_database() AS name, pg_postmaster_start_time()::text AS started,
              (SELECT oid FROM pg_database WHERE datname = current_database())::text AS oid,
              pg_backend_pid() AS pid, current_setting('statement_timeout') AS timeout`,
    );
    const row = rows[0];
    if (!row) throw new Error('the database answered no row');
    const announcedPid = (client as unknown as { processID?: number | null }).processID ?? undefined;
    await client.end();
    return { identity: `${row.name}/${row.oid}/${row.started}`, name: row.name, backendPid: row.pid, announcedPid, statementTimeout: row.timeout };
  } catch (error) {
    closeConnectionNow(client);
    throw error;
  }
}

/** PgBouncer and Supavisor give each client a backend key of their own, so the pid it announces is not the backend's. */
function poolerEvidence(connection: pg.ClientConfig, seen: Inspection): string | undefined {
  if (seen.announcedPid !== undefined && seen.announcedPid !== seen.backendPid) {
    return 'the connection announced a different backend process than the one that answered, as a pooler does';
  }
  const { host, port } = hostAndPort(connection);
  const known = POOLER_HOSTS.find((entry) => entry.pattern.test(host));
  if (known) return `the host ${host} is ${known.name}`;
  if (port === SUPAVISOR_TRANSACTION_PORT) return `port ${port} is the transaction-mode port of Supabase's pooler`;
  return undefined;
}

function hostAndPort(connection: pg.ClientConfig): { host: string; port: number } {
  if (connection.connectionString) {
    try {
      const url = new URL(connection.connectionString);
      return { host: url.hostname, port: Number(url.port || 5432) };
    } catch {
      return { host: '', port: 5432 };
    }
  }
  return { host: String(connection.host ?? ''), port: Number(connection.port ?? 5432) };
}

/** The one start-up line: which mode, how it was decided, and what it gives up. */
export function poolingNotice(pooling: Pooling, cacheSize: number): { level: 'info' | 'warn'; message: string } {
  if (!pooling.transactionPooler) {
    const how = pooling.decidedBy === 'setting' ? 'NANGO_DB_POOLER says there is no transaction pooler' : 'no transaction pooler detected';
    return { level: 'info', message: `Database mode: direct sessions (${how}); prepared statements, the connection cache and LISTEN/NOTIFY are on. Behind a transaction-mode pooler set NANGO_DB_POOLER=transaction.` };
  }
  const how = pooling.decidedBy === 'setting' ? 'NANGO_DB_POOLER=transaction' : `detected: ${pooling.evidence ?? 'a pooler answered'}; set NANGO_DB_POOLER=none if it is a session-mode pooler`;
  const timeout = pooling.databaseStatementTimeout && pooling.databaseStatementTimeout !== '0'
    ? `the database's own statement_timeout (${pooling.databaseStatementTimeout}) applies`
    : 'NANGO_DB_STATEMENT_TIMEOUT_MS cannot travel through the pooler (set ALTER ROLE … SET statement_timeout for a database-side limit; NANGO_DB_QUERY_TIMEOUT_MS still applies)';
  if (pooling.direct) {
    return {
      level: 'info',
      message: `Database mode: transaction pooler (${how}). No prepared statements or session state; migrations and LISTEN/NOTIFY use NANGO_DATABASE_DIRECT_URL, so the connection cache${cacheSize === 0 ? ' (off by NANGO_CONNECTION_CACHE_SIZE=0)' : ''} and cross-process OAuth results work as usual; ${timeout}.`,
    };
  }
  return {
    level: 'warn',
    message: `Database mode: transaction pooler (${how}), without NANGO_DATABASE_DIRECT_URL. No prepared statements or session state; LISTEN/NOTIFY cannot work through the pooler, so the connection cache is off (every read goes to the database) and an OAuth result reaches a page held by another process by polling (within a second). Set NANGO_DATABASE_DIRECT_URL to the direct connection string to get both back; ${timeout}.`,
  };
}
