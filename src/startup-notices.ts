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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
