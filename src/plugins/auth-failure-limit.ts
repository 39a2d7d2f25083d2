import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { renderErrorForPath } from './error-rendering.js';

export interface AuthFailureLimit {
  /** Failed authentications a client address may make per window before it is refused; 0 turns the limit off. */
  failures: number;
  windowSeconds: number;
}

/** Addresses remembered at most: a spray from many addresses cannot grow the table without bound. */
const MAX_TRACKED_CLIENTS = 10_000;

interface Window {
  startedAt: number;
  failures: number;
}

/**
 * Failed authentications counted per client address in fixed windows. Memory only, per process: with several
 * replicas a client may make `failures` guesses per window on each, which still keeps a 256-bit key or a
 * dashboard password out of reach of online guessing.
 */
export class AuthFailureCounter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limit: AuthFailureLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the client may try again, or 0 when it is not locked out. */
  retryAfterSeconds(client: string): number {
    const window = this.current(client);
    if (!window || window.failures < this.limit.failures) return 0;
    return Math.max(1, Math.ceil((window.startedAt + this.limit.windowSeconds * 1000 - this.now()) / 1000));
  }

  recordFailure(client: string): void {
    const window = this.current(client);
    if (window) {
      window.failures += 1;
      return;
    }
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.forgetExpired();
    // Still full of live windows: drop the oldest entry (Map keeps insertion order) rather than grow.
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.windows.delete(this.windows.keys().next().value as string);
    this.windows.set(client, { startedAt: this.now(), failures: 1 });
  }

  private current(client: string): Window | undefined {
    const window = this.windows.get(client);
    if (window && this.now() - window.startedAt >= this.limit.windowSeconds * 1000) {
      this.windows.delete(client);
      return undefined;
    }
    return window;
  }

  private forgetExpired(): void {
    for (const client of [...this.windows.keys()]) this.current(client);
  }
}

/**
 * Whether a request tries to authenticate: a key or password in Authorization, or the query credentials of
 * the auth routes (HMAC digest, connect session token, public key). Only such requests are counted and, once
 * a client is locked out, refused; health checks, pages and assets stay reachable.
 */
function presentsCredentials(request: FastifyRequest): boolean {
  if (request.headers.authorization !== undefined) return true;
  const query = request.query as Record<string, unknown> | undefined;
  return query !== undefined && typeof query === 'object' && ['hmac', 'connect_session_token', 'public_key'].some((name) => query[name] !== undefined);
}

/**
 * Rate limiting of failed authentications, so a secret key, HMAC digest or dashboard password cannot be guessed
 * online: after `failures` 401 answers to one client address within the window, every credentialed request from
 * it is answered 429 `too_many_requests` (with Retry-After) until the window ends, whether or not the guess was
 * right, so a lockout tells nothing. Behind a reverse proxy, NANGO_TRUST_PROXY makes the address the real client's.
 */
export function registerAuthFailureLimit(app: FastifyInstance, limit: AuthFailureLimit): void {
  if (limit.failures <= 0) return;
  const counter = new AuthFailureCounter(limit);
  app.addHook('onRequest', async (request, reply) => {
    if (!presentsCredentials(request)) return;
    const retryAfter = counter.retryAfterSeconds(request.ip);
    if (retryAfter === 0) return;
    reply.header('retry-after', String(retryAfter));
    await renderErrorForPath(
      new ApiError('too_many_requests', `Too many failed authentication attempts from this address; try again in ${retryAfter} seconds.`),
      request,
      reply,
    );
    return reply;
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401 && presentsCredentials(request)) counter.recordFailure(request.ip);
  });
}
