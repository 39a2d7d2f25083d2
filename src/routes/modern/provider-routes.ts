import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import { parseRequestPart } from '../request-parsing.js';
import type { ModernRouteContext } from './integration-routes.js';
import { providerBody } from './wire-format.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/** `/providers`: the catalog the dashboard and Connect UI search. */
export function registerProviderRoutes(app: FastifyInstance, context: ModernRouteContext): void {
  app.get('/providers', { onRequest: context.secretKeyOrSession, ...READS_QUERY }, async (request) => {
    const { search } = parseRequestPart(z.object({ search: z.string().max(200).optional() }).strict(), request.query, 'invalid_query_params');
    const needle = search?.trim().toLowerCase();
    const providers = context.providers
      .list()
      .filter(({ name, template }) => !needle || name.includes(needle) || template.display_name.toLowerCase().includes(needle) || (template.categories ?? []).some((c) => c.includes(needle)));
    return { data: providers.map(({ name, template }) => providerBody(name, template, context.serverUrl)) };
  });

  app.get('/providers/:provider', { onRequest: context.secretKeyOrSession }, async (request) => {
    const { provider } = parseRequestPart(z.object({ provider: z.string().min(1).max(255) }), request.params, 'invalid_uri_params');
    const template = context.providers.get(provider);
    if (!template) throw new ApiError('not_found', `"${provider}" is not a provider of the catalog.`);
    return { data: providerBody(provider, template, context.serverUrl) };
  });
}
