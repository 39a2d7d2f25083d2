import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseRequestPart } from '../routes/request-parsing.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The handler reads the query string itself, with a strict schema (or ignores it on purpose). */
    readsQuery?: boolean;
  }
}

const NoQuery = z.object({}).strict();

/** Route options of a route that reads its own query string. */
export const READS_QUERY = { config: { readsQuery: true } } as const;

/**
 * Unknown query parameters are refused, not ignored: `?force_refesh=true` must not quietly do nothing. Every
 * route registered after this call takes no query string at all, unless it reads its own
 * (`config: { readsQuery: true }`); a route that forgets to say so refuses its parameters loudly in every test,
 * where a route that forgot to check would have accepted anything in silence.
 */
export function refuseUnreadQueries(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.readsQuery) return;
    const existing = route.preValidation === undefined ? [] : [route.preValidation].flat();
    route.preValidation = [...existing, refuseQuery];
  });
}

async function refuseQuery(request: FastifyRequest): Promise<void> {
  parseRequestPart(NoQuery, request.query, 'invalid_query_params');
}
