import type { Config } from './config.js';

export interface StartupNotice {
  level: 'info' | 'warn';
  message: string;
}

/**
 * What an operator must know at start about who can reach what: one plain line each, saying what to change.
 * Nothing here is a refusal; a server set up this way still starts.
 */
export function securityNotices(config: Config): StartupNotice[] {
  const notices: StartupNotice[] = [];
  const bind = config.hostSetBy ? `${config.host}, from ${config.hostSetBy}` : config.host;
  if (!config.secretKey) {
    notices.push(
      isLoopback(config.host)
        ? { level: 'warn', message: `NANGO_SECRET_KEY is not set: the API and the dashboard are open, so the server listens on ${bind} only and other machines cannot reach it. Set NANGO_SECRET_KEY before serving them.` }
        : { level: 'warn', message: `NANGO_SECRET_KEY is not set: the API (/config, /connection, /proxy) and the dashboard are open to anyone who can reach this server (it listens on ${bind}). Set a secret key before exposing it.` },
    );
    return notices;
  }
  if (config.publicConnect && !config.hmac.enabled) {
    notices.push({
      level: 'warn',
      message:
        'Anyone who can reach this server can create a connection, or replace the credentials of an existing one, by naming its connection id (NANGO_PUBLIC_CONNECT is not false and HMAC is off). Set NANGO_PUBLIC_CONNECT=false and start connections with connect sessions, or set NANGO_HMAC_ENABLED=true; see docs/security.md.',
    });
  }
  if (!config.browsers.allowedOrigins) {
    notices.push({
      level: 'info',
      message: "NANGO_ALLOWED_ORIGINS is not set: pages of any origin may open the OAuth popup's WebSocket. List your application's origins there to refuse the others.",
    });
  }
  return notices;
}

/** Where the secret key was read from: the process environment, or a .env file (its path). Never the key itself. */
export type SecretKeySource = { from: 'environment' } | { from: 'file'; path: string };

/**
 * What someone who has just started the server needs next, once it listens: where the dashboard is and how
 * to sign in, where the secret key came from (its absence is the warning above), and the next step.
 */
export function welcomeNotices(config: Config, listeningPort: number, secretKeySource: SecretKeySource | undefined): StartupNotice[] {
  const local = `http://${displayHost(config.host)}:${listeningPort}/`;
  const configured = `${config.serverUrl}/`;
  const where = configured === local || isDefaultServerUrl(config) ? local : `${configured} (on this machine: ${local})`;
  const signIn = config.dashboard
    ? `sign in as "${config.dashboard.username}" with NANGO_DASHBOARD_PASSWORD`
    : config.secretKey
      ? 'sign in with any user name and the secret key as the password'
      : 'open, no sign-in (see the NANGO_SECRET_KEY line above)';
  const notices: StartupNotice[] = [{ level: 'info', message: `Dashboard: ${where}: ${signIn}.` }];
  if (secretKeySource) {
    const source = secretKeySource.from === 'file' ? `from ${secretKeySource.path}` : 'from the environment';
    notices.push({
      level: 'info',
      message: `The secret key is NANGO_SECRET_KEY ${source}. API clients send it as "Authorization: Bearer <key>"; the CLI reads it from NANGO_SECRET_KEY too.`,
    });
  }
  notices.push({
    level: 'info',
    message:
      'Next step: add an integration in the dashboard, or with the CLI (custody integration:create <key> <provider>; docs/cli.md), then connect an account through a connect session (custody connect-session:create <end user id>).',
  });
  return notices;
}

/** NANGO_SERVER_URL left at its default (localhost and the configured port): the address actually listened on is the one to show. */
function isDefaultServerUrl(config: Config): boolean {
  return config.serverUrl === `http://localhost:${config.port === 0 ? 3003 : config.port}`;
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || isLoopback(host)) return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
