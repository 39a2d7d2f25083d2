import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Dashboard changes come from the dashboard's own pages only. A browser that signed in with HTTP Basic sends
 * the credentials with every request to this origin, also one that another site's page makes, so a change
 * (POST, PUT, PATCH, DELETE) must show that it comes from this origin: `Sec-Fetch-Site: same-origin` (every
 * current browser sends it, and no page can forge it), or, from a browser without it, an `Origin` that is this
 * server's. A request with neither header (curl, a script) carries no browser's credentials and passes.
 */
export function sameOriginMutationGuard(serverUrl: string): (request: FastifyRequest) => Promise<void> {
  const serverOrigin = new URL(serverUrl).origin;
  return async (request) => {
    if (!MUTATIONS.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    if (typeof site === 'string') {
      if (site === 'same-origin' || site === 'none') return;
      throw refused(`Sec-Fetch-Site: ${site.slice(0, 20)}`);
    }
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (origin === serverOrigin || hostOf(origin) === request.host) return;
    throw refused(`Origin: ${origin.slice(0, 100)}`);
  };
}

function hostOf(origin: string): string | undefined {
  return URL.canParse(origin) ? new URL(origin).host : undefined;
}

function refused(evidence: string): ApiError {
  return new ApiError(
    'forbidden',
    `Refused a dashboard change sent from another site (${evidence}): the dashboard's API accepts changes only from the dashboard's own pages, or from clients that send no Origin (curl, scripts).`,
  );
}
