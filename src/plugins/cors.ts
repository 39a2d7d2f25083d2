import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Cross-origin access for the APIs browsers call from the operator's own pages (the frontend SDK's
 * `/api-auth/*` posts, the Connect UI given another `apiURL`), as Nango's server allowed any origin.
 * No cookies are involved (keys travel in headers), so `*` grants nothing a script could not already do.
 * The dashboard (pages and `/api/v1/*`) stays same-origin: it is the one place with browser credentials.
 */
const SAME_ORIGIN_ONLY = /^\/(api\/v1|dashboard)(\/|$)/;

/**
 * Judged on the path the router matched, not on the raw URL: `/%61pi/v1/account` reaches the same route as
 * `/api/v1/account`. The route's own pattern covers every spelling the router accepts; for the catch-all page
 * route and for paths no route matches, the percent-decoded path is judged (an undecodable one counts as the dashboard's).
 */
function isSameOriginOnly(request: FastifyRequest): boolean {
  const pattern = request.routeOptions.url;
  if (pattern !== undefined && SAME_ORIGIN_ONLY.test(pattern)) return true;
  const rawPath = request.url.split('?')[0] ?? '/';
  try {
    return SAME_ORIGIN_ONLY.test(decodeURIComponent(rawPath));
  } catch {
    return true;
  }
}

export function registerCors(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!request.headers.origin || isSameOriginOnly(request)) return;
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', '*');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      await reply
        .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS')
        .header('access-control-allow-headers', request.headers['access-control-request-headers'] ?? '*')
        .header('access-control-max-age', '600')
        .status(204)
        .send();
    }
  });
}
