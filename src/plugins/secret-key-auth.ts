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
  const matches = secretKey === undefined ? undefined : secretKeyMatcher(secretKey);
  // A callback hook: the check is synchronous, and an async one would cost every request a promise and a turn.
  return (request, _reply, done) => {
    try {
      if (matches) checkSecretKey(request.headers.authorization, matches);
    } catch (error) {
      done(error as Error);
      return;
    }
    request.principal = SECRET_KEY_PRINCIPAL;
    done();
  };
}

function checkSecretKey(header: string | undefined, matches: (presented: string) => boolean): void {
  if (!header) throw new ApiError('missing_auth_header', 'Authentication failed: send the secret key in the Authorization header.');
  const presented = presentedSecretKey(header);
  if (presented === undefined) {
    throw new ApiError('malformed_auth_header', 'Authentication failed: the Authorization header must be "Bearer <secret key>" or Basic with the secret key as user name.');
  }
  if (!matches(presented)) {
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

/** Keys up to this many bytes are compared byte for byte, without hashing; a longer one (unusual) by digest. */
const COMPARED_BYTES = 512;

/**
 * The check every request of a secret-key family makes, in constant time like `matchesSecretKey` but without a
 * SHA-256 of the presented key per request: the presented key is written into a buffer of a fixed size, zeroes
 * after it, and compared whole with the configured key padded the same way, and its length is compared apart.
 * What the comparison costs depends on the fixed size and on the presented key only, never on the configured one.
 */
export function secretKeyMatcher(secretKey: string): (presented: string) => boolean {
  const keyBytes = Buffer.byteLength(secretKey, 'utf8');
  if (keyBytes > COMPARED_BYTES) {
    const digest = secretKeyDigest(secretKey);
    return (presented) => matchesSecretKey(presented, digest);
  }
  const expected = Buffer.alloc(COMPARED_BYTES);
  expected.write(secretKey, 'utf8');
  const scratch = Buffer.alloc(COMPARED_BYTES);
  return (presented) => {
    scratch.fill(0);
    scratch.write(presented, 'utf8');
    const sameBytes = timingSafeEqual(scratch, expected);
    // A longer key written in part, or a shorter one whose missing bytes were zeroes, differs in length.
    const sameLength = Buffer.byteLength(presented, 'utf8') === keyBytes;
    return sameBytes && sameLength;
  };
}
