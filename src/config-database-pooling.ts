import { ConfigError, nonEmpty } from './config-readers.js';

/**
 * `transaction`: a transaction-mode pooler (PgBouncer `pool_mode = transaction`, Supavisor, Supabase's port
 * 6543, RDS Proxy), which lends a server connection for one transaction at a time; `none`: PostgreSQL itself or a
 * session-mode pooler; `detect`: ask the connection at start.
 */
export type PoolerSetting = 'detect' | 'transaction' | 'none';

export interface DatabasePooling {
  setting: PoolerSetting;
  /**
   * NANGO_DATABASE_DIRECT_URL: the same database without the transaction pooler (Supabase's direct connection),
   * for what needs a session of its own: LISTEN, and migrations.
   */
  directUrl: string | undefined;
}

/** NANGO_DB_POOLER and NANGO_DATABASE_DIRECT_URL, checked against where the data lives. */
export function readDatabasePooling(env: NodeJS.ProcessEnv, database: { kind: 'embedded' | 'external' }): DatabasePooling {
  const raw = nonEmpty(env['NANGO_DB_POOLER']);
  const word = raw?.toLowerCase() ?? 'detect';
  if (word !== 'transaction' && word !== 'none' && word !== 'detect' && word !== 'session') {
    throw new ConfigError(
      `NANGO_DB_POOLER must be "transaction" (PgBouncer pool_mode = transaction, Supabase port 6543, RDS Proxy), "session" or "none" (PostgreSQL itself or a session-mode pooler), or "detect" (got "${raw ?? ''}").`,
    );
  }
  const setting: PoolerSetting = word === 'session' ? 'none' : word;
  const directUrl = nonEmpty(env['NANGO_DATABASE_DIRECT_URL']);
  if (directUrl !== undefined && !/^postgres(ql)?:\/\//.test(directUrl)) {
    throw new ConfigError('NANGO_DATABASE_DIRECT_URL must start with postgres:// or postgresql://.');
  }
  if (database.kind === 'embedded' && directUrl !== undefined) {
    throw new ConfigError('NANGO_DATABASE_DIRECT_URL is set without NANGO_DATABASE_URL; set NANGO_DATABASE_URL to the pooled connection string, or remove the direct one.');
  }
  if (database.kind === 'embedded' && setting === 'transaction') {
    throw new ConfigError("NANGO_DB_POOLER=transaction needs an external database: set NANGO_DATABASE_URL to the pooler's connection string.");
  }
  return { setting, directUrl };
}
