import pino from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

/**
 * Query parameters whose values are secrets or single-use grants. They are blanked in every logged URL,
 * because Fastify logs the request URL and OAuth callbacks carry codes in it.
 */
const SECRET_QUERY_PARAMS = new Set([
  'code', 'state', 'hmac', 'connect_session_token', 'session_token', 'public_key', 'oauth_token', 'oauth_verifier',
  'access_token', 'refresh_token', 'client_secret', 'code_verifier', 'token', 'key', 'api_key', 'apikey', 'password',
]);

export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return url;
  const params = url.slice(queryStart + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = decodeSafely(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
    const bare = name.replace(/^.*\[|\]$/g, '');
    return eq !== -1 && (SECRET_QUERY_PARAMS.has(name) || SECRET_QUERY_PARAMS.has(bare) || name.startsWith('credentials[')) ? `${pair.slice(0, eq)}=[REDACTED]` : pair;
  });
  return `${url.slice(0, queryStart)}?${params.join('&')}`;
}

/** A request path for an error message: without its query, and cut short (a 5,000-character path is no sentence). */
export function shortPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > 120 ? `${path.slice(0, 120)}…` : path;
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Paths pino blanks in any logged object: authorization headers and every field that can hold a secret. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  '*.authorization',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  '*.oauth_client_secret',
  '*.oauth_token_secret',
  '*.code_verifier',
  '*.secret_key',
  '*.password',
  '*.apiKey',
  '*.credentials',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: {
        req: (req: { method?: string; url?: string; id?: string }) => ({ method: req.method, url: redactUrl(req.url ?? ''), id: req.id }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}
