import type { FastifyInstance, FastifyRequest } from 'fastify';
import { applyCorsPolicy, type CorsPolicy } from '../plugins/cors.js';
import { modernErrors, seedErrors, type ErrorRenderer } from '../plugins/error-rendering.js';
import { proxyErrors } from '../proxy/proxy-errors.js';

/**
 * The server's HTTP surface is a handful of route families, each a Fastify scope with its own policies: the
 * shape its errors take and whether other origins may read its answers. Who may call it is the family's own
 * guard (see each family's register function).
 */
export interface RouteFamily {
  name: 'seed' | 'modern' | 'dashboard' | 'oauth' | 'proxy' | 'web' | 'operations';
  errors: ErrorRenderer;
  cors: CorsPolicy;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The family whose scope registered the route. */
    family?: RouteFamily;
  }
}

/** Nango v0.16's API (`/config`, `/connection`): `{error, type, payload}`. */
export const SEED_FAMILY: RouteFamily = { name: 'seed', errors: seedErrors, cors: 'any-origin' };
/** The modern SDKs' API: `{error: {code, message}}`. */
export const MODERN_FAMILY: RouteFamily = { name: 'modern', errors: modernErrors, cors: 'any-origin' };
/** The operator dashboard's API, `/api/v1/*`: the one family with browser credentials, so no CORS. */
export const DASHBOARD_FAMILY: RouteFamily = { name: 'dashboard', errors: seedErrors, cors: 'same-origin' };
/** The popup flow's pages, `/oauth/connect/:key` and `/oauth/callback` (and a GitHub App's Setup URL, `/app-auth/connect`). */
export const OAUTH_FAMILY: RouteFamily = { name: 'oauth', errors: seedErrors, cors: 'any-origin' };
/** `/proxy/*`, which both SDK generations call: errors in the caller's shape. */
export const PROXY_FAMILY: RouteFamily = { name: 'proxy', errors: proxyErrors, cors: 'any-origin' };
/** The dashboard's and the Connect UI's pages and files: loaded by navigation and from their own origin. */
export const WEB_FAMILY: RouteFamily = { name: 'web', errors: seedErrors, cors: 'same-origin' };
/** What load balancers, monitoring and pages fetch: `/health`, `/ready`, `/metrics`, `/logos/*`. */
export const OPERATIONS_FAMILY: RouteFamily = { name: 'operations', errors: seedErrors, cors: 'any-origin' };

/**
 * Where the families are mounted, by the first segment of the path. Only answers given before a route is known
 * read it (an unknown path, a malformed URL), and the web UI, which serves its page at every path no API owns.
 * `/connect` itself is the Connect UI's page; below it is the connect-session API.
 */
const MOUNTS: Record<string, RouteFamily> = {
  config: SEED_FAMILY,
  connection: SEED_FAMILY,
  connections: MODERN_FAMILY,
  integrations: MODERN_FAMILY,
  providers: MODERN_FAMILY,
  'audit-log': MODERN_FAMILY,
  'api-auth': MODERN_FAMILY,
  auth: MODERN_FAMILY,
  oauth2: MODERN_FAMILY,
  sync: MODERN_FAMILY,
  records: MODERN_FAMILY,
  action: MODERN_FAMILY,
  scripts: MODERN_FAMILY,
  'environment-variables': MODERN_FAMILY,
  flow: MODERN_FAMILY,
  webhook: MODERN_FAMILY,
  api: DASHBOARD_FAMILY,
  oauth: OAUTH_FAMILY,
  'app-auth': OAUTH_FAMILY,
  proxy: PROXY_FAMILY,
  health: OPERATIONS_FAMILY,
  ready: OPERATIONS_FAMILY,
  metrics: OPERATIONS_FAMILY,
  logos: OPERATIONS_FAMILY,
  docs: OPERATIONS_FAMILY,
  'openapi.json': OPERATIONS_FAMILY,
};

/**
 * The family mounted at a URL's path, judged on its first segment percent-decoded as the router decodes it
 * (`/%61pi/v1/…` is the dashboard's). A first segment that does not decode is the web UI's, which allows no other
 * origin; below it, `%zz` in a later segment (a malformed URL) still belongs to the family mounted above.
 */
export function familyAtPath(url: string): RouteFamily {
  const [, first = '', ...below] = (url.split('?')[0] ?? '/').split('/');
  try {
    return familyAtSegment(decodeURIComponent(first), below.some((segment) => segment !== ''));
  } catch {
    return WEB_FAMILY;
  }
}

/** The family mounted at an already decoded path. */
export function familyMountedAt(path: string): RouteFamily {
  const [, first = '', ...below] = path.split('/');
  return familyAtSegment(first, below.some((segment) => segment !== ''));
}

function familyAtSegment(first: string, hasMore: boolean): RouteFamily {
  if (first === 'connect') return hasMore ? MODERN_FAMILY : WEB_FAMILY;
  return Object.hasOwn(MOUNTS, first) ? (MOUNTS[first] as RouteFamily) : WEB_FAMILY;
}

/** The family of the route serving a request, or, when no route does, of its path. */
export function familyOf(request: FastifyRequest): RouteFamily {
  return request.routeOptions.config?.family ?? familyAtPath(request.url);
}

/**
 * Makes a Fastify scope a family's: every route registered in it afterwards answers errors in the family's shape
 * and gets its CORS headers (before any guard, so a preflight is answered without credentials).
 */
export function adoptFamily(scope: FastifyInstance, family: RouteFamily): void {
  scope.setErrorHandler(family.errors.render);
  scope.addHook('onRoute', (route) => {
    route.config = { ...route.config, family };
  });
  if (family.cors === 'any-origin') {
    // A callback hook: most requests carry no Origin and pass at once, without a promise and a turn of their own.
    scope.addHook('onRequest', (request, reply, done) => {
      if (!request.headers.origin) return done();
      // A preflight answered here is sent; the request goes no further, so `done` is not called.
      applyCorsPolicy(family.cors, request, reply).then((answered) => (answered ? undefined : done()), done);
    });
  }
}
