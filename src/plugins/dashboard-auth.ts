import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The realm browsers show in their login prompt; one realm for the pages and `/api/v1/*`, so one login covers both. */
export const DASHBOARD_REALM = 'Custody dashboard';

/** Who the audit trail names when the dashboard has no credentials configured. */
export const OPEN_DASHBOARD_USER = '(open dashboard)';
/** Who the audit trail names when someone signed in with the secret key (the user name they typed proves nothing). */
export const SECRET_KEY_DASHBOARD_USER = '(secret key)';

export type DashboardGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * How the dashboard is entered: its own user name and password, the secret key, or nothing at all. It is open
 * only while the server has no secret key either, and such a server listens on 127.0.0.1 unless told otherwise.
 */
export type DashboardSignIn = 'dashboard_password' | 'secret_key' | 'none';

export interface DashboardAccess {
  dashboard: { username: string; password: string } | undefined;
  secretKey?: string | undefined;
}

export function dashboardSignIn(access: DashboardAccess): DashboardSignIn {
  return access.dashboard ? 'dashboard_password' : access.secretKey ? 'secret_key' : 'none';
}

/**
 * HTTP Basic for the dashboard pages and its API. With NANGO_DASHBOARD_USERNAME / NANGO_DASHBOARD_PASSWORD, those;
 * without them the secret key signs in (as the password, under any user name; or as the API takes it: the user name
 * with an empty password, or `Bearer <key>`), so a server with a key never hands it out to whoever asks. Without
 * either, the dashboard is open (the UI says so in a banner). A refusal is a 401 with a plain-text body and
 * `WWW-Authenticate`, so a browser shows its login prompt. Secrets are compared as fixed-length digests in
 * constant time, every comparison every time, so timing tells nothing about which part was wrong.
 */
export function dashboardGuard(access: DashboardAccess): DashboardGuard {
  const mode = dashboardSignIn(access);
  if (mode === 'none') {
    return async (request) => {
      request.principal = { kind: 'dashboard_user', user: OPEN_DASHBOARD_USER };
    };
  }
  const check = mode === 'dashboard_password' && access.dashboard ? passwordCheck(access.dashboard) : secretKeyCheck(access.secretKey ?? '');
  return async (request, reply) => {
    const presented = basicCredentials(request.headers.authorization) ?? (mode === 'secret_key' ? bearerAsBasic(request.headers.authorization) : undefined);
    const user = check(presented ?? { username: '', password: '' });
    if (presented && user !== undefined) {
      request.principal = { kind: 'dashboard_user', user };
      return;
    }
    await reply
      .status(401)
      .header('www-authenticate', `Basic realm="${DASHBOARD_REALM}", charset="UTF-8"`)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(refusal(mode, presented !== undefined));
  };
}

type CredentialCheck = (presented: { username: string; password: string }) => string | undefined;

function passwordCheck(credentials: { username: string; password: string }): CredentialCheck {
  const expectedUser = digest(credentials.username);
  const expectedPassword = digest(credentials.password);
  return (presented) => {
    // Evaluate both comparisons unconditionally: `&&` would skip the second one and leak which part was wrong.
    const userMatches = timingSafeEqual(digest(presented.username), expectedUser);
    const passwordMatches = timingSafeEqual(digest(presented.password), expectedPassword);
    return userMatches && passwordMatches ? credentials.username : undefined;
  };
}

function secretKeyCheck(secretKey: string): CredentialCheck {
  const expectedKey = digest(secretKey);
  const empty = digest('');
  return (presented) => {
    const keyAsPassword = timingSafeEqual(digest(presented.password), expectedKey);
    const keyAsUser = timingSafeEqual(digest(presented.username), expectedKey);
    const noPassword = timingSafeEqual(digest(presented.password), empty);
    return keyAsPassword || (keyAsUser && noPassword) ? SECRET_KEY_DASHBOARD_USER : undefined;
  };
}

function refusal(mode: Exclude<DashboardSignIn, 'none'>, presented: boolean): string {
  if (mode === 'dashboard_password') {
    return presented
      ? 'Authentication failed: the dashboard user name or password is wrong.\n'
      : 'Authentication required: sign in with the dashboard user name and password (NANGO_DASHBOARD_USERNAME and NANGO_DASHBOARD_PASSWORD).\n';
  }
  return presented
    ? 'Authentication failed: the password is not the secret key (NANGO_SECRET_KEY).\n'
    : 'Authentication required: sign in with the secret key (NANGO_SECRET_KEY) as the password; any user name will do. Set NANGO_DASHBOARD_USERNAME and NANGO_DASHBOARD_PASSWORD for a dashboard login of its own.\n';
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

/** `Bearer <key>` judged as the key in the password field. */
function bearerAsBasic(header: string | undefined): { username: string; password: string } | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header.trim()) : null;
  return match ? { username: '', password: match[1] ?? '' } : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
