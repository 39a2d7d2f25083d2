import type { Config } from '../../config.js';

/** One environment variable that decides where the data lives, with a value that is safe to show. */
export interface DatabaseSetting {
  variable: string;
  value: string;
}

/**
 * The variables this server actually reads for its database, as the Settings page names them: the data
 * directory of the embedded PostgreSQL, NANGO_DATABASE_URL, or the discrete NANGO_DB_* settings. A password,
 * and a connection string's user info and query, never leave the server.
 */
export function databaseSettings(database: Config['database']): DatabaseSetting[] {
  const pool = [
    { variable: 'NANGO_DB_POOL_MIN', value: String(database.poolMin) },
    { variable: 'NANGO_DB_POOL_MAX', value: String(database.poolMax) },
  ];
  if (database.kind === 'embedded') return [{ variable: 'NANGO_DATA_DIR', value: database.dataDir }, ...pool];
  const ssl = { variable: 'NANGO_DB_SSL', value: database.ssl ? 'on' : 'off' };
  if (database.url !== undefined) return [{ variable: 'NANGO_DATABASE_URL', value: describeConnectionString(database.url) }, ssl, ...pool];
  return [
    { variable: 'NANGO_DB_HOST', value: database.host },
    { variable: 'NANGO_DB_PORT', value: String(database.port) },
    { variable: 'NANGO_DB_NAME', value: database.name },
    { variable: 'NANGO_DB_USER', value: database.user },
    { variable: 'NANGO_DB_PASSWORD', value: 'set (not shown)' },
    ssl,
    ...pool,
  ];
}

/** `host:port/database as user`: where the server connects, without the password or the query string. */
function describeConnectionString(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'set (not shown: it does not parse as a URL)';
  }
  const host = parsed.hostname ? `${parsed.hostname}:${parsed.port || '5432'}` : 'the local socket';
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const user = decodeURIComponent(parsed.username);
  return `${host}${name ? `/${name}` : ''}${user ? ` as ${user}` : ''}`;
}
