import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { presentedSecretKey, secretKeyMatcher } from './secret-key-auth.js';
import { CONNECT_SESSION_TOKEN_PATTERN, type ConnectSessionsStore } from '../store/connect-sessions-store.js';
import { SECRET_KEY_PRINCIPAL, type Principal } from './principal.js';

export interface PrincipalOptions {
  secretKey: string | undefined;
  sessions: ConnectSessionsStore;
  now: () => Date;
}

/**
 * Bearer authentication for the modern API. A connect session token is recognised by its prefix; anything
 * else must be the secret key (or, with no key configured, the API is open and the caller is the operator).
 * `accept` lists what a route takes.
 */
export function principalGuard(options: PrincipalOptions, accept: Exclude<Principal['kind'], 'dashboard_user'>[]): (request: FastifyRequest) => Promise<void> {
  // The same constant-time comparison as the seed and proxy families, without a SHA-256 per request.
  const matchesKey = options.secretKey === undefined ? undefined : secretKeyMatcher(options.secretKey);
  return async (request) => {
    const header = request.headers.authorization;
    const [scheme, value, ...rest] = (header ?? '').trim().split(/\s+/);
    const bearer = scheme?.toLowerCase() === 'bearer' && value && rest.length === 0 ? value : undefined;
    if (bearer && bearer.startsWith('nango_connect_session_')) {
      if (!accept.includes('connect_session')) throw new ApiError('forbidden', 'A connect session token cannot call this route; use the secret key.');
      if (!CONNECT_SESSION_TOKEN_PATTERN.test(bearer)) throw new ApiError('invalid_connect_session_token_format', 'The connect session token is malformed.');
      const session = await options.sessions.findByToken(bearer);
      if (!session) throw new ApiError('unknown_connect_session_token', 'The connect session token is unknown.');
      if (session.expiresAt.getTime() <= options.now().getTime()) throw new ApiError('expired_connect_session_token', 'The connect session has expired; ask the application for a new one.');
      request.principal = { kind: 'connect_session', session, token: bearer };
      return;
    }
    if (!accept.includes('secret_key')) throw new ApiError('missing_auth_header', 'This route needs a connect session token: Authorization: Bearer nango_connect_session_….');
    if (!matchesKey) {
      request.principal = SECRET_KEY_PRINCIPAL;
      return;
    }
    if (!header) throw new ApiError('missing_auth_header', 'Authentication failed: send the secret key as "Authorization: Bearer <secret key>".');
    const presented = presentedSecretKey(header);
    if (!presented) throw new ApiError('malformed_auth_header', 'Authentication failed: the Authorization header must be "Bearer <secret key>".');
    if (!matchesKey(presented)) throw new ApiError('unknown_account', 'Authentication failed: the secret key is not valid.');
    request.principal = SECRET_KEY_PRINCIPAL;
  };
}
