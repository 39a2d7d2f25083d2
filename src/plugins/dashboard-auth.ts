import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The realm browsers show in their login prompt; one realm for the pages and `/api/v1/*`, so one login covers both. */
export const DASHBOARD_REALM = 'Custody dashboard';

declare module 'fastify' {
  interface FastifyRequest {
    /** The dashboard user who made the request (the audit trail names them); unset outside the dashboard. */
    dashboardUser?: string;
  }
}

/** Who the audit trail names when the dashboard has no credentials configured. */
export const OPEN_DASHBOARD_USER = '(open dashboard)';

export type DashboardGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * HTTP Basic for the dashboard pages and its API (`NANGO_DASHBOARD_USERNAME` / `NANGO_DASHBOARD_PASSWORD`).
 * Without credentials the dashboard is open (the UI says so in a banner). A refusal is a 401 with a plain-text
 * body and `WWW-Authenticate`, so a browser shows its login prompt. User name and password are compared as
 * fixed-length digests in constant time, both of them every time, so timing tells nothing about either.
 */
export function dashboardGuard(credentials: { username: string; password: string } | undefined): DashboardGuard {
  if (!credentials) {
    return async (request) => {
      request.dashboardUser = OPEN_DASHBOARD_USER;
    };
  }
  const expectedUser = digest(credentials.username);
  const expectedPassword = digest(credentials.password);
  return async (request, reply) => {
    const presented = basicCredentials(request.headers.authorization);
    // Evaluate both comparisons unconditionally: `&&` would skip the second one and leak which part was wrong.
    const userMatches = timingSafeEqual(digest(presented?.username ?? ''), expectedUser);
    const passwordMatches = timingSafeEqual(digest(presented?.password ?? ''), expectedPassword);
    if (presented && userMatches && passwordMatches) {
      request.dashboardUser = credentials.username;
      return;
    }
    await reply
      .status(401)
      .header('www-authenticate', `Basic realm="${DASHBOARD_REALM}", charset="UTF-8"`)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        presented
          ? 'Authentication failed: the dashboard user name or password is wrong.\n'
          : 'Authentication required: sign in with the dashboard user name and password (NANGO_DASHBOARD_USERNAME and NANGO_DASHBOARD_PASSWORD).\n',
      );
  };
}

function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  if (!header) return undefined;
  const [scheme, value, ...rest] = header.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== 'basic' || !value || rest.length > 0) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
