import { hash, timingSafeEqual } from 'node:crypto';
import type { onRequestHookHandler } from 'fastify';
import { ApiError } from '../errors.js';
import { SECRET_KEY_PRINCIPAL } from './principal.js';

/**
 * The API's secret key, accepted as `Basic base64(<key>:)` (the seed server's scheme) and as `Bearer <key>`
 * (what the 0.15/0.16 Node SDKs and every modern client send). Without a configured key the API is open and the
 * caller counts as the operator.
 */
export function secretKeyGuard(secretKey: string | undefined): onRequestHookHandler {
  const expected = secretKey === undefined ? undefined : secretKeyDigest(secretKey);
  // A callback hook: the check is synchronous, and an async one would cost every request a promise and a turn.
  return (request, _reply, done) => {
    try {
      if (expected) checkSecretKey(request.headers.authorization, expected);
    } catch (error) {
      done(error as Error);
      return;
    }
    request.principal = SECRET_KEY_PRINCIPAL;
    done();
  };
}

function checkSecretKey(header: string | undefined, expected: Buffer): void {
  if (!header) throw new ApiError('missing_auth_header', 'Authentication failed: send the secret key in the Authorization header.');
  const presented = presentedSecretKey(header);
  if (presented === undefined) {
    throw new ApiError('malformed_auth_header', 'Authentication failed: the Authorization header must be "Bearer <secret key>" or Basic with the secret key as user name.');
  }
  if (!matchesSecretKey(presented, expected)) {
    throw new ApiError('invalid_secret_key', 'Authentication failed: the secret key is not valid.');
  }
}

/** The key an Authorization header carries, in either scheme; undefined when the header is neither. */
export function presentedSecretKey(header: string): string | undefined {
  const [scheme, value, ...rest] = header.trim().split(/\s+/);
  if (!scheme || !value || rest.length > 0) return undefined;
  switch (scheme.toLowerCase()) {
    case 'bearer':
      return value;
    case 'basic': {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      // Nango compares only the user part and ignores the password.
      return colon === -1 ? decoded : decoded.slice(0, colon);
    }
    default:
      return undefined;
  }
}

export function secretKeyDigest(key: string): Buffer {
  // The one-shot form: the same SHA-256, without building a Hash object on every request.
  return hash('sha256', key, 'buffer');
}

/** Compares fixed-length digests, so neither the length nor the content of the key leaks through timing. */
export function matchesSecretKey(presented: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(secretKeyDigest(presented), expectedDigest);
}
