import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Whether pages on other origins may read a route family's answers. `any-origin` is for the APIs browsers call
 * from the operator's own pages (the frontend SDK's `/api-auth/*` posts, the Connect UI given another `apiURL`),
 * as Nango's server allowed any origin: no cookies are involved (keys travel in headers), so `*` grants nothing a
 * script could not already do. `same-origin` is for the dashboard (its pages and `/api/v1/*`), the one place with
 * browser credentials: no CORS headers at all.
 */
export type CorsPolicy = 'any-origin' | 'same-origin';

/**
 * Adds the CORS headers a request gets under the policy; answers a preflight itself (204) and then says so
 * (true), so the caller stops there.
 */
export async function applyCorsPolicy(policy: CorsPolicy, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  if (policy === 'same-origin' || !request.headers.origin) return false;
  reply.header('access-control-allow-origin', '*');
  reply.header('access-control-expose-headers', '*');
  if (request.method !== 'OPTIONS' || !request.headers['access-control-request-method']) return false;
  await reply
    .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS')
    .header('access-control-allow-headers', request.headers['access-control-request-headers'] ?? '*')
    .header('access-control-max-age', '600')
    .status(204)
    .send();
  return true;
}
