import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { AuthFailureCounter, clientKey, type AuthFailureLimit } from './auth-failure-counter.js';
import type { ErrorRenderer } from './error-rendering.js';
import { matchesSecretKey, presentedSecretKey, secretKeyDigest } from './secret-key-auth.js';

export type { AuthFailureLimit } from './auth-failure-counter.js';

/**
 * Online guessing of the secret key, an HMAC digest, a connect session token or the dashboard password is
 * cut off per client address, without ever refusing the right credentials:
 *
 * - After `failures` 401 answers to one address within the window, that address is locked out until the
 *   window ends: a wrong credential from it is answered 429 `too_many_requests` (with Retry-After) instead of
 *   the 401 that says which part was wrong. A request with valid credentials is served as always, so an
 *   attacker who shares an address with the real backend (or forges one) cannot lock the backend out.
 * - Since the right answer still comes back, a locked-out address would keep an oracle at full speed. For the
 *   secret key, HMAC digests and session tokens (256-bit or random) that is worth nothing. A password a person
 *   chose is guessable, so the password checks of a locked-out address run one at a time at the limit's average
 *   rate (window / failures); the right password is served when its turn comes. Only when that address
 *   already has `failures` checks waiting is a further one refused with 429 unchecked.
 *
 * Behind a reverse proxy, NANGO_TRUST_PROXY makes the address the real client's (docs/security.md says which
 * settings cannot be forged). The 429 takes the shape of the caller's route family (`errorsFor`).
 */
export function registerAuthFailureLimit(
  app: FastifyInstance,
  limit: AuthFailureLimit,
  options: { secretKey: string | undefined; errorsFor: (request: FastifyRequest) => ErrorRenderer },
): void {
  if (limit.failures <= 0) return;
  const counter = new AuthFailureCounter(limit);
  const secretKey = options.secretKey === undefined ? undefined : secretKeyDigest(options.secretKey);
  const waiting = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  // Callback hooks: almost every request presents no password and fails no authentication, and passes at once,
  // without the promise and turn an async hook costs.
  app.addHook('onRequest', (request, reply, done) => {
    if (!presentsPassword(request, secretKey)) return done();
    pacePasswordCheck(request, reply).then((answered) => (answered ? undefined : done()), done);
  });

  /** Waits for a locked-out address's turn, or answers 429 (true) when too many checks of it are already waiting. */
  const pacePasswordCheck = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const client = clientKey(request.ip);
    const booking = counter.bookPacedCheck(client);
    if (booking === undefined) return false;
    if (booking === 'full') {
      const retryAfter = counter.retryAfterSeconds(client);
      const { status, body } = options.errorsFor(request).body(tooManyFailures(retryAfter), request);
      await reply.status(status).header('retry-after', String(retryAfter)).send(body);
      return true;
    }
    try {
      if (booking.waitMs > 0) await pause(booking.waitMs, waiting);
    } finally {
      booking.release();
    }
    return false;
  };

  // A closing app does not keep requests waiting for their turn: they are checked at once.
  app.addHook('onClose', async () => {
    for (const entry of waiting) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode !== 401 || !presentsCredentials(request)) return done(null, payload);
    const client = clientKey(request.ip);
    const lockedOut = counter.retryAfterSeconds(client) > 0;
    counter.recordFailure(client);
    if (!lockedOut) return done(null, payload);
    const { status, body } = options.errorsFor(request).body(tooManyFailures(counter.retryAfterSeconds(client)), request);
    reply.status(status).header('retry-after', String(counter.retryAfterSeconds(client))).header('content-type', 'application/json; charset=utf-8').removeHeader('www-authenticate');
    done(null, JSON.stringify(body));
  });
}

function tooManyFailures(retryAfter: number): ApiError {
  return new ApiError('too_many_requests', `Too many failed authentication attempts from this address; try again in ${retryAfter} seconds.`);
}

function pause(ms: number, waiting: Set<{ timer: NodeJS.Timeout; resolve: () => void }>): Promise<void> {
  return new Promise((resolve) => {
    const entry = {
      resolve: () => {
        waiting.delete(entry);
        resolve();
      },
      timer: setTimeout(() => entry.resolve(), ms),
    };
    waiting.add(entry);
  });
}

/**
 * Whether a request tries to authenticate: a key or password in Authorization, or the query credentials of
 * the auth routes (HMAC digest, connect session token, public key). Only such requests are counted;
 * health checks, pages and assets are never touched.
 */
function presentsCredentials(request: FastifyRequest): boolean {
  if (request.headers.authorization !== undefined) return true;
  const query = request.query as Record<string, unknown> | undefined;
  return query !== undefined && typeof query === 'object' && ['hmac', 'connect_session_token', 'public_key'].some((name) => query[name] !== undefined);
}

const BASIC_SCHEME = /^\s*basic\s/i;

/**
 * Whether the credential is one a person may have chosen: HTTP Basic with a password (the dashboard's
 * login), unless that password or user name is the secret key itself. The seed scheme (Basic with the key
 * as user name and no password), Bearer keys and session tokens are machine-made and never paced.
 */
function presentsPassword(request: FastifyRequest, secretKey: Buffer | undefined): boolean {
  const header = request.headers.authorization;
  // Every request comes here: most carry a Bearer key or nothing, and need no splitting to say so.
  if (header === undefined || !BASIC_SCHEME.test(header)) return false;
  const [scheme, value, ...rest] = header.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== 'basic' || !value || rest.length > 0) return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon === -1 ? '' : decoded.slice(colon + 1);
  if (password === '') return false;
  if (!secretKey) return true;
  const user = presentedSecretKey(request.headers.authorization ?? '') ?? '';
  // Both compared every time, so timing tells nothing about which one matched.
  const userIsKey = matchesSecretKey(user, secretKey);
  const passwordIsKey = matchesSecretKey(password, secretKey);
  return !(userIsKey || passwordIsKey);
}
