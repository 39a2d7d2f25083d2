import pino from 'pino';
import type { LogLevel } from './config.js';

export type Logger = pino.Logger;

/**
 * Query parameters whose values are secrets or single-use grants. They are blanked in every logged URL,
 * because Fastify logs the request URL, OAuth callbacks carry codes in it, and some APIs take their key there.
 */
const SECRET_QUERY_PARAMS = new Set([
  'code', 'state', 'hmac', 'public_key', 'oauth_verifier', 'key', 'sig', 'auth', 'authorization', 'pass', 'pwd', 'jwt',
]);
/** Any name containing one of these (separators and case ignored) can carry a secret: `secret_key`, `x-api-key`, `access_token`… */
const SECRET_NAME_PARTS = ['token', 'secret', 'password', 'passwd', 'apikey', 'accesskey', 'privatekey', 'signature', 'credential', 'session', 'assertion', 'verifier'];
/** Names that merely end in "key" without being one. */
const NOT_SECRET = new Set(['provider_config_key', 'unique_key']);

export function isSecretQueryParameter(name: string): boolean {
  const lower = name.toLowerCase();
  const bare = lower.replace(/^.*\[|\]$/g, '');
  if (lower.startsWith('credentials[')) return true;
  return [lower, bare].some((candidate) => {
    if (NOT_SECRET.has(candidate)) return false;
    const squashed = candidate.replace(/[^a-z0-9]/g, '');
    return SECRET_QUERY_PARAMS.has(candidate) || SECRET_NAME_PARTS.some((part) => squashed.includes(part)) || /[_.-]key$/.test(candidate);
  });
}

export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return url;
  const params = url.slice(queryStart + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = decodeSafely(eq === -1 ? pair : pair.slice(0, eq));
    return eq !== -1 && isSecretQueryParameter(name) ? `${pair.slice(0, eq)}=[REDACTED]` : pair;
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
  '*.client_private_key',
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
