import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Config, QueryTimeouts } from '../config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { decidePooling, type Pooling } from './pooler.js';
import { runStatementsUnnamed } from './prepared-statement.js';
import { boundedConnection, enforceQueryDeadline } from './query-timeouts.js';

/** Nango keeps its tables in this schema; an existing Nango database is adopted in place. */
export const SCHEMA = 'nango';

export interface Database {
  /** The serving pool: every statement under NANGO_DB_STATEMENT_TIMEOUT_MS and NANGO_DB_QUERY_TIMEOUT_MS. */
  knex: Knex;
  /**
   * A small pool without those limits, for long legitimate work: migrations, encrypting existing rows, key
   * rotation. Its connections close when idle.
   */
  maintenanceKnex: Knex;
  /** The serving path (through the pooler, if any), for a client of its own: the readiness probe. */
  connection: pg.ClientConfig;
  /**
   * For work that holds a transaction or a session of its own (the start-up and rotation locks, LISTEN): the
   * direct connection behind a transaction pooler, else the serving path; undefined for LISTEN when a transaction
   * pooler is in the way and no direct URL was given.
   */
  sessionConnection: pg.ClientConfig;
  listenConnection: pg.ClientConfig | undefined;
  /** Whether a transaction pooler is in the way (src/db/pooler.ts); undefined for the embedded database. */
  pooling: Pooling | undefined;
  /** Where the data lives, for the start-up log; never includes a password. */
  description: string;
  close(): Promise<void>;
}

const CONNECT_ATTEMPTS = 30;

/**
 * `onLost`: the embedded database died and could not be started again (an external one is never "lost": its
 * own supervisor restarts it, and requests answer 503 meanwhile).
 */
export async function openDatabase(
  config: Config['database'],
  timeouts: QueryTimeouts,
  log: Logger,
  onLost?: (error: Error) => void,
  poolingSettings: Config['databasePooling'] = { setting: 'detect', directUrl: undefined },
): Promise<Database> {
  if (config.kind === 'embedded') {
    const cluster = await startEmbeddedPostgres(config.dataDir, log, onLost ? { onLost } : {});
    try {
      const knex = createKnex(cluster.connection, config.poolMin, config.poolMax, log, timeouts);
      const maintenanceKnex = createKnex(cluster.connection, 0, 2, log);
      return {
        knex,
        maintenanceKnex,
        connection: cluster.connection,
        sessionConnection: cluster.connection,
        listenConnection: cluster.connection,
        pooling: undefined,
        description: `embedded PostgreSQL (data in ${config.dataDir})`,
        close: async () => {
          await Promise.all([knex.destroy(), maintenanceKnex.destroy()]);
          await cluster.stop();
        },
      };
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }
  const connection: pg.ClientConfig = config.url
    ? { connectionString: config.url }
    : { host: config.host, port: config.port, user: config.user, password: config.password, database: config.name };
  if (config.ssl) connection.ssl = { rejectUnauthorized: false };
  const description = config.url ? `PostgreSQL at ${redactConnectionString(config.url)}` : `PostgreSQL at ${config.host}:${config.port}/${config.name}`;
  await waitForServer(connection, description, log);
  const pooling = await decidePooling(poolingSettings, connection);
  const pooled = pooling.transactionPooler;
  const knex = createKnex(connection, config.poolMin, config.poolMax, log, timeouts, { pooled });
  // Migrations and key rotation go straight to the database when they can, as Supabase and Prisma advise.
  const sessionConnection = pooling.direct ?? connection;
  const maintenanceKnex = createKnex(sessionConnection, 0, 2, log, undefined, { pooled: pooled && !pooling.direct });
  return {
    knex,
    maintenanceKnex,
    connection,
    sessionConnection,
    listenConnection: pooled ? pooling.direct : (pooling.direct ?? connection),
    pooling,
    description,
    close: async () => {
      await Promise.all([knex.destroy(), maintenanceKnex.destroy()]);
    },
  };
}

/**
 * A knex pool; with `timeouts`, every statement on it is bounded (src/db/query-timeouts.ts). `pooled`: through a
 * transaction pooler, so it sets nothing on the session (no search_path: the server's statements name their
 * schema; no statement_timeout startup parameter, which PgBouncer refuses) and prepares no named statements.
 */
export function createKnex(connection: pg.ClientConfig, poolMin: number, poolMax: number, log?: Logger, timeouts?: QueryTimeouts, options: { pooled?: boolean } = {}): Knex {
  const pooled = options.pooled ?? false;
  const knex = knexFactory({
    client: 'pg',
    ...(log ? { log: knexLog(log) } : {}),
    connection: (timeouts ? boundedConnection(connection, timeouts, { startupParameters: !pooled }) : connection) as Knex.PgConnectionConfig,
    // A session setting would stay behind on whichever server connection a transaction pooler lent, for its next client.
    ...(pooled ? {} : { searchPath: [SCHEMA, 'public'] }),
    pool: {
      min: poolMin,
      max: poolMax,
      ...(timeouts && timeouts.queryMs > 0
        ? {
            afterCreate: (client: pg.Client, done: (error: Error | null, client: pg.Client) => void) => {
              enforceQueryDeadline(client, timeouts.queryMs);
              done(null, client);
            },
          }
        : {}),
    },
    // A request waits at most this long for a connection, then answers 503 instead of hanging.
    acquireConnectionTimeout: 5_000,
  });
  if (pooled) runStatementsUnnamed(knex);
  return knex;
}

/**
 * knex's own messages through pino instead of the console. While the database is down every request that
 * waits for a connection makes knex warn with a full stack; the request is already answered 503 and logged,
 * so those go to debug rather than flooding the log with hundreds of traces a second.
 */
function knexLog(log: Logger): Knex.Config['log'] {
  return {
    warn: (message: string) => (message.startsWith('Acquire connection error') ? log.debug(message) : log.warn(message)),
    error: (message: string) => log.error(message),
    deprecate: (method: string, alternative: string) => log.warn(`knex: ${method} is deprecated; use ${alternative}.`),
    debug: (message: string) => log.debug(message),
  };
}

/** At start the database may still be coming up (compose starts both at once): retry, one log line per attempt. */
async function waitForServer(connection: pg.ClientConfig, description: string, log: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ ...connection, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      const reason = (error as { code?: string; message?: string }).code ?? (error as Error).message;
      if (attempt >= CONNECT_ATTEMPTS || isPermanent(error)) {
        throw new Error(`Cannot connect to ${description}: ${(error as Error).message}`);
      }
      log.warn(`Waiting for ${description} (${reason}); attempt ${attempt} of ${CONNECT_ATTEMPTS}, retrying in 1 s.`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/** Wrong password, unknown database or role: retrying will not help. */
function isPermanent(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '28P01' || code === '28000' || code === '3D000';
}

function redactConnectionString(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
