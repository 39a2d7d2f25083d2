/**
 * Variables of the developer's shell that would change what a spec sees: the server's own settings, the
 * PostgreSQL client's defaults (pg reads PGHOST, PGSSLMODE…), and HTTP proxies (axios, inside the Nango SDKs,
 * would send loopback calls through one). The suite removes them before any spec runs and sets what it needs,
 * so `npm test` passes in a clone whose owner also runs the server from it.
 */
const EXACT = new Set([
  'LOG_LEVEL', 'LOG_FORMAT', 'TELEMETRY', 'SERVER_HOST', 'HOST', 'SERVER_PORT', 'PORT', 'DATABASE_URL',
  'DOTENV_KEY', 'DOTENV_CONFIG_PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY',
]);
const PREFIXES = ['NANGO_', 'CUSTODY_', 'PG'];

export function isDeveloperSetting(name: string): boolean {
  const upper = name.toUpperCase();
  return EXACT.has(upper) || PREFIXES.some((prefix) => upper.startsWith(prefix)) || upper.endsWith('_DATABASE_URL');
}

/** Removes every such variable from `env` (the test runner's own process.env); answers the names removed. */
export function removeDeveloperSettings(env: NodeJS.ProcessEnv): string[] {
  const removed = Object.keys(env).filter(isDeveloperSetting);
  for (const name of removed) delete env[name];
  return removed;
}
