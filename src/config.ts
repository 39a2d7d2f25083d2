import { getHashes } from 'node:crypto';
import path from 'node:path';
import { ConfigError, nonEmpty, readBoolean, readInteger, readOptionalUrl, readUrl } from './config-readers.js';
import { readDatabasePooling, type DatabasePooling } from './config-database-pooling.js';
import type { AuditSynchronousCommit } from './db/audit-commit.js';
import { readKeeperSettings, type KeeperSettings } from './keeper/keeper-settings.js';
import { parseConnectionHostsAllowed, type ConnectionHostsAllowed } from './net/connection-hosts-allowed.js';
import { parseAllowedHosts } from './proxy/allowed-hosts.js';

/**
 * Every environment variable the server reads, with Nango's names and defaults.
 * Parsed once at start; a bad value becomes one plain-English line naming the variable.
 */
export interface Config {
  port: number;
  /** The address to listen on: SERVER_HOST or HOST, else all interfaces with a secret key and 127.0.0.1 without one. */
  host: string;
  /** Which variable chose `host`; null when the default did. */
  hostSetBy: 'SERVER_HOST' | 'HOST' | null;
  serverUrl: string;
  callbackUrl: string;
  /** Where end users open the Connect UI; connect links point here. */
  publicConnectUrl: string;
  secretKey: string | undefined;
  dashboard: { username: string; password: string } | undefined;
  /** The NANGO_ENCRYPTION_KEY text as given (base64); the fingerprint is computed over it. */
  encryptionKey: string | undefined;
  /** NANGO_ENCRYPTION_KEY_PREVIOUS: the key to rotate away from (rows are re-encrypted while serving). */
  previousEncryptionKey: string | undefined;
  hmac: { enabled: false } | { enabled: true; key: string; algorithm: string };
  /** NANGO_PUBLIC_CONNECT: whether a browser may create or replace a connection by its id alone (no connect session, no HMAC). */
  publicConnect: boolean;
  /** NANGO_SEED_REFRESH_TOKENS: whether the seed `GET /connection/:id` includes refresh tokens when the request does not say (`refresh_token=`). */
  seedRefreshTokens: boolean;
  /** What browsers may do: extra origins for the popup's WebSocket (NANGO_ALLOWED_ORIGINS; undefined = any), sockets per client address (0 = no cap). */
  browsers: { allowedOrigins: string[] | undefined; webSocketsPerAddress: number };
  database: ExternalDatabaseConfig | EmbeddedDatabaseConfig;
  /** What sits between the server and an external PostgreSQL (NANGO_DB_POOLER, NANGO_DATABASE_DIRECT_URL; src/db/pooler.ts). */
  databasePooling: DatabasePooling;
  /** How long the serving pool lets a statement run (NANGO_DB_STATEMENT_TIMEOUT_MS, NANGO_DB_QUERY_TIMEOUT_MS; src/db/query-timeouts.ts). */
  databaseTimeouts: QueryTimeouts;
  providersFile: string | undefined;
  /** Audit entries older than this many days are deleted (NANGO_AUDIT_RETENTION_DAYS). */
  auditRetentionDays: number;
  /** Whether an audit entry's commit waits for PostgreSQL's disk flush (NANGO_AUDIT_SYNCHRONOUS_COMMIT, src/db/audit-commit.ts). */
  auditSynchronousCommit: AuditSynchronousCommit;
  /** Connections kept in memory between reads (NANGO_CONNECTION_CACHE_SIZE); 0 reads every one from the database. */
  connectionCacheSize: number;
  /** Where auth webhooks go (NANGO_WEBHOOK_URL) and the key that signs them (NANGO_WEBHOOK_SECRET, default the secret key). */
  webhook: { url: string | undefined; signingKey: string | undefined };
  /** The proxy: hosts Base-Url-Override may reach (NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS) and the upstream timeout (NANGO_PROXY_TIMEOUT_MS). */
  proxy: { allowedBaseUrlOverrideHosts: string[]; timeoutMs: number };
  /** Non-public hosts and ranges connections may still use (NANGO_CONNECTION_HOSTS_ALLOWED); none by default. */
  connectionHostsAllowed: ConnectionHostsAllowed;
  /** Failed authentications one client address may make per window (NANGO_AUTH_FAILURE_LIMIT, NANGO_AUTH_FAILURE_WINDOW_SECONDS); 0 = no limit. */
  authFailureLimit: { failures: number; windowSeconds: number };
  /** Which proxies' X-Forwarded-For to believe for the client address (NANGO_TRUST_PROXY): Fastify's trustProxy value. */
  trustProxy: boolean | number | string[];
  /** After SIGTERM, how long the server keeps serving while GET /ready answers 503 (NANGO_SHUTDOWN_GRACE_SECONDS). */
  shutdownGraceSeconds: number;
  telemetry: boolean;
  /** Where anonymous usage events go (NANGO_TELEMETRY_ENDPOINT); nothing is sent without one. */
  telemetryEndpoint: string | undefined;
  logLevel: LogLevel;
  /** LOG_FORMAT: `pretty` or `json`; undefined: pretty on a terminal, JSON otherwise (src/log-format.ts). */
  logFormat: LogFormat | undefined;
  /** The token keeper: sweep interval, max age, give-up time, concurrency (NANGO_REFRESH_*; src/keeper/). */
  keeper: KeeperSettings;
}

export interface ExternalDatabaseConfig {
  kind: 'external';
  /** A connection string, or the discrete NANGO_DB_* settings. */
  url: string | undefined;
  host: string;
  port: number;
  user: string;
  password: string;
  name: string;
  ssl: boolean;
  poolMin: number;
  poolMax: number;
}

export interface EmbeddedDatabaseConfig {
  kind: 'embedded';
  dataDir: string;
  poolMin: number;
  poolMax: number;
}

/** Milliseconds; 0 turns a limit off. */
export interface QueryTimeouts {
  /** PostgreSQL cancels a statement running longer (statement_timeout). */
  statementMs: number;
  /** The server gives up on a query without an answer for this long and closes its connection. */
  queryMs: number;
}

export { ConfigError } from './config-readers.js';

/** How log lines are written: `pretty` for people (one line per event), `json` for machines. */
export type LogFormat = 'pretty' | 'json';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

const LOG_LEVELS: Record<string, LogLevel> = {
  fatal: 'fatal', emerg: 'fatal', alert: 'fatal', crit: 'fatal',
  error: 'error',
  warn: 'warn', warning: 'warn',
  info: 'info', notice: 'info', http: 'info',
  debug: 'debug', verbose: 'debug',
  trace: 'trace', silly: 'trace',
  silent: 'silent',
};

function readLogLevel(env: NodeJS.ProcessEnv): LogLevel {
  const raw = nonEmpty(env['LOG_LEVEL']);
  if (raw === undefined) return 'info';
  const level = LOG_LEVELS[raw.toLowerCase()];
  if (!level) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "${raw}").`);
  }
  return level;
}

function readLogFormat(env: NodeJS.ProcessEnv): LogFormat | undefined {
  const raw = nonEmpty(env['LOG_FORMAT'])?.toLowerCase();
  if (raw === undefined || raw === 'pretty' || raw === 'json') return raw;
  throw new ConfigError(`LOG_FORMAT must be "pretty" or "json", or unset for pretty on a terminal and JSON otherwise (got "${env['LOG_FORMAT']}").`);
}

function readEncryptionKey(env: NodeJS.ProcessEnv, name = 'NANGO_ENCRYPTION_KEY'): string | undefined {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return undefined;
  const isBase64 = /^[A-Za-z0-9+/]+={0,2}$/.test(raw) && raw.length % 4 === 0;
  const bytes = isBase64 ? Buffer.from(raw, 'base64').length : 0;
  if (!isBase64 || bytes !== 32) {
    throw new ConfigError(
      `${name} must be the base64 encoding of exactly 32 bytes (${isBase64 ? `it decodes to ${bytes} bytes` : 'it is not valid base64'}); generate one with: openssl rand -base64 32`,
    );
  }
  return raw;
}

function readPreviousEncryptionKey(env: NodeJS.ProcessEnv): string | undefined {
  const previous = readEncryptionKey(env, 'NANGO_ENCRYPTION_KEY_PREVIOUS');
  if (previous === undefined) return undefined;
  const current = nonEmpty(env['NANGO_ENCRYPTION_KEY']);
  if (!current) throw new ConfigError('NANGO_ENCRYPTION_KEY_PREVIOUS is set but NANGO_ENCRYPTION_KEY is empty; set the new key to rotate to.');
  if (current === previous) throw new ConfigError('NANGO_ENCRYPTION_KEY_PREVIOUS is the same as NANGO_ENCRYPTION_KEY; set it to the old key, or remove it.');
  return previous;
}

function readAllowedHosts(env: NodeJS.ProcessEnv): string[] {
  try {
    return parseAllowedHosts(env['NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS']);
  } catch (error) {
    throw new ConfigError(`NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS: ${(error as Error).message}`);
  }
}

function readConnectionHostsAllowed(env: NodeJS.ProcessEnv): ConnectionHostsAllowed {
  try {
    return parseConnectionHostsAllowed(env['NANGO_CONNECTION_HOSTS_ALLOWED']);
  } catch (error) {
    throw new ConfigError(`NANGO_CONNECTION_HOSTS_ALLOWED: ${(error as Error).message}`);
  }
}

/** `true`/`false`, a hop count, or a comma-separated list of proxy addresses, CIDR ranges or named ranges. */
function readTrustProxy(env: NodeJS.ProcessEnv): Config['trustProxy'] {
  const raw = nonEmpty(env['NANGO_TRUST_PROXY']);
  if (raw === undefined) return false;
  // Digits are a hop count here, so only the words mean true and false.
  if (['true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  if (/^\d+$/.test(raw)) return readInteger(env, 'NANGO_TRUST_PROXY', 0, 0, 100);
  const entries = raw.split(',').map((entry) => entry.trim());
  // proxy-addr's names for the private ranges are accepted too: `uniquelocal` covers a Docker network.
  const named = ['loopback', 'linklocal', 'uniquelocal'];
  if (entries.some((entry) => !named.includes(entry) && !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry))) {
    throw new ConfigError(`NANGO_TRUST_PROXY must be true, false, a number of proxy hops, or comma-separated IP addresses, CIDR ranges or loopback/linklocal/uniquelocal (got "${raw}").`);
  }
  return entries;
}

function readHmac(env: NodeJS.ProcessEnv): Config['hmac'] {
  const enabled = readBoolean(env, 'NANGO_HMAC_ENABLED', false);
  if (!enabled) return { enabled: false };
  const key = nonEmpty(env['NANGO_HMAC_KEY']);
  if (!key) {
    throw new ConfigError('NANGO_HMAC_ENABLED is true but NANGO_HMAC_KEY is empty; set a key or disable HMAC.');
  }
  const algorithm = (nonEmpty(env['NANGO_HMAC_ALGORITHM']) ?? 'sha256').toLowerCase();
  if (!getHashes().includes(algorithm)) {
    throw new ConfigError(`NANGO_HMAC_ALGORITHM "${algorithm}" is not a hash algorithm this Node.js supports (for example sha256, sha512).`);
  }
  return { enabled: true, key, algorithm };
}

/** An IP address or a host name; IPv6 may come in brackets. */
function readHost(env: NodeJS.ProcessEnv, secretKey: string | undefined): Pick<Config, 'host' | 'hostSetBy'> {
  const setBy = nonEmpty(env['SERVER_HOST']) !== undefined ? 'SERVER_HOST' : nonEmpty(env['HOST']) !== undefined ? 'HOST' : null;
  // Without a secret key the API and the dashboard are open: only this machine may reach them unless the operator says otherwise.
  if (setBy === null) return { host: secretKey ? '0.0.0.0' : '127.0.0.1', hostSetBy: null };
  const raw = nonEmpty(env[setBy]) ?? '';
  const host = raw.replace(/^\[(.*)\]$/, '$1');
  if (host.length > 253 || !(/^[A-Za-z0-9.-]+$/.test(host) || /^[0-9A-Fa-f:.]+$/.test(host))) {
    throw new ConfigError(`${setBy} must be an IP address or a host name to listen on, such as 127.0.0.1 or 0.0.0.0 (got "${raw}").`);
  }
  return { host, hostSetBy: setBy };
}

/** Comma-separated origins (`https://app.example.com`, `http://localhost:5173`): scheme, host and port only. */
function readAllowedOrigins(env: NodeJS.ProcessEnv): string[] | undefined {
  const raw = nonEmpty(env['NANGO_ALLOWED_ORIGINS']);
  if (raw === undefined) return undefined;
  return raw.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(entry) || !URL.canParse(entry)) {
      throw new ConfigError(`NANGO_ALLOWED_ORIGINS must list origins such as https://app.example.com or http://localhost:5173, comma-separated, without paths (got "${entry}").`);
    }
    return new URL(entry).origin;
  });
}

function readDashboard(env: NodeJS.ProcessEnv): Config['dashboard'] {
  const username = nonEmpty(env['NANGO_DASHBOARD_USERNAME']);
  const password = nonEmpty(env['NANGO_DASHBOARD_PASSWORD']);
  if (!username && !password) return undefined;
  if (!username || !password) {
    const missing = username ? 'NANGO_DASHBOARD_PASSWORD' : 'NANGO_DASHBOARD_USERNAME';
    throw new ConfigError(`${missing} is empty while its partner is set; set both dashboard credentials or neither.`);
  }
  return { username, password };
}

/** The server-side limit, and the client-side one a little above it so a live database cancels a slow statement first. */
function readQueryTimeouts(env: NodeJS.ProcessEnv): QueryTimeouts {
  const statementMs = readInteger(env, 'NANGO_DB_STATEMENT_TIMEOUT_MS', 5_000, 0, 3_600_000);
  const queryMs = readInteger(env, 'NANGO_DB_QUERY_TIMEOUT_MS', statementMs === 0 ? 7_000 : statementMs + 2_000, 0, 3_600_000);
  if (statementMs > 0 && queryMs > 0 && queryMs <= statementMs) {
    throw new ConfigError(
      `NANGO_DB_QUERY_TIMEOUT_MS (${queryMs}) must be larger than NANGO_DB_STATEMENT_TIMEOUT_MS (${statementMs}), so that a live database cancels a slow statement itself before the server gives up on the connection; leave NANGO_DB_QUERY_TIMEOUT_MS unset to get ${statementMs + 2_000}.`,
    );
  }
  return { statementMs, queryMs };
}

function readDatabase(env: NodeJS.ProcessEnv): Config['database'] {
  const poolMin = readInteger(env, 'NANGO_DB_POOL_MIN', 2, 0, 1000);
  const poolMax = readInteger(env, 'NANGO_DB_POOL_MAX', 7, 1, 1000);
  if (poolMin > poolMax) {
    throw new ConfigError(`NANGO_DB_POOL_MIN (${poolMin}) must not be larger than NANGO_DB_POOL_MAX (${poolMax}).`);
  }
  const url = nonEmpty(env['NANGO_DATABASE_URL']);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError('NANGO_DATABASE_URL must start with postgres:// or postgresql://.');
  }
  const host = nonEmpty(env['NANGO_DB_HOST']);
  if (url === undefined && host === undefined) {
    const dataDir = path.resolve(nonEmpty(env['NANGO_DATA_DIR']) ?? 'nango-data');
    return { kind: 'embedded', dataDir, poolMin, poolMax };
  }
  return {
    kind: 'external',
    url,
    host: host ?? 'localhost',
    port: readInteger(env, 'NANGO_DB_PORT', 5432, 1, 65535),
    user: nonEmpty(env['NANGO_DB_USER']) ?? 'nango',
    password: env['NANGO_DB_PASSWORD'] ?? 'nango',
    name: nonEmpty(env['NANGO_DB_NAME']) ?? 'nango',
    ssl: readBoolean(env, 'NANGO_DB_SSL', false),
    poolMin,
    poolMax,
  };
}

/** Reads and checks the whole configuration; throws ConfigError with one line on the first bad value. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const explicitPort = nonEmpty(env['SERVER_PORT']) !== undefined ? 'SERVER_PORT' : nonEmpty(env['PORT']) !== undefined ? 'PORT' : undefined;
  const port = explicitPort ? readInteger(env, explicitPort, 3003, 0, 65535) : 3003;
  const serverUrl = readUrl(env, 'NANGO_SERVER_URL', `http://localhost:${port === 0 ? 3003 : port}`);
  const callbackUrl = readUrl(env, 'NANGO_CALLBACK_URL', `${serverUrl}/oauth/callback`);
  const providersFile = nonEmpty(env['NANGO_PROVIDERS_FILE']);
  const secretKey = nonEmpty(env['NANGO_SECRET_KEY']);
  const database = readDatabase(env);
  return {
    port,
    ...readHost(env, secretKey),
    serverUrl,
    callbackUrl,
    publicConnectUrl: readUrl(env, 'NANGO_PUBLIC_CONNECT_URL', `${serverUrl}/connect`),
    secretKey,
    dashboard: readDashboard(env),
    encryptionKey: readEncryptionKey(env),
    previousEncryptionKey: readPreviousEncryptionKey(env),
    hmac: readHmac(env),
    // Allowed by default, as seed clients reconnect by calling auth() again; new installs set it to false.
    publicConnect: readBoolean(env, 'NANGO_PUBLIC_CONNECT', true),
    // The v0.16 server returned them and seed clients refresh with them; modern servers hide them unless asked.
    seedRefreshTokens: readBoolean(env, 'NANGO_SEED_REFRESH_TOKENS', true),
    browsers: {
      allowedOrigins: readAllowedOrigins(env),
      webSocketsPerAddress: readInteger(env, 'NANGO_WEBSOCKETS_PER_ADDRESS', 50, 0, 1_000_000),
    },
    database,
    databasePooling: readDatabasePooling(env, database),
    databaseTimeouts: readQueryTimeouts(env),
    providersFile: providersFile ? path.resolve(providersFile) : undefined,
    auditRetentionDays: readInteger(env, 'NANGO_AUDIT_RETENTION_DAYS', 365, 1, 36_500),
    auditSynchronousCommit: readBoolean(env, 'NANGO_AUDIT_SYNCHRONOUS_COMMIT', false) ? 'on' : 'off',
    connectionCacheSize: readInteger(env, 'NANGO_CONNECTION_CACHE_SIZE', 10_000, 0, 10_000_000),
    webhook: {
      // Kept exactly as given: a receiver may redirect the other form of the path, and POSTs are not redirected.
      url: readOptionalUrl(env, 'NANGO_WEBHOOK_URL'),
      signingKey: nonEmpty(env['NANGO_WEBHOOK_SECRET']) ?? nonEmpty(env['NANGO_SECRET_KEY']),
    },
    proxy: {
      allowedBaseUrlOverrideHosts: readAllowedHosts(env),
      timeoutMs: readInteger(env, 'NANGO_PROXY_TIMEOUT_MS', 30_000, 100, 600_000),
    },
    connectionHostsAllowed: readConnectionHostsAllowed(env),
    authFailureLimit: {
      failures: readInteger(env, 'NANGO_AUTH_FAILURE_LIMIT', 20, 0, 1_000_000),
      windowSeconds: readInteger(env, 'NANGO_AUTH_FAILURE_WINDOW_SECONDS', 60, 1, 86_400),
    },
    trustProxy: readTrustProxy(env),
    shutdownGraceSeconds: readInteger(env, 'NANGO_SHUTDOWN_GRACE_SECONDS', 2, 0, 60),
    telemetry: readBoolean(env, 'TELEMETRY', true),
    telemetryEndpoint: readOptionalUrl(env, 'NANGO_TELEMETRY_ENDPOINT'),
    logLevel: readLogLevel(env),
    logFormat: readLogFormat(env),
    keeper: readKeeperSettings(env, (message) => new ConfigError(message)),
  };
}
