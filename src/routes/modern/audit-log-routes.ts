import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLogStore } from '../../store/audit-log-store.js';
import { identifier, parseRequestPart } from '../request-parsing.js';
import type { ModernRouteContext } from './integration-routes.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/** `GET /audit-log`: who touched which credentials, newest first, filtered, one page at a time (secret key only). */
export function registerAuditLogRoutes(app: FastifyInstance, store: AuditLogStore, context: ModernRouteContext): void {
  app.get('/audit-log', { onRequest: context.secretKeyOnly, ...READS_QUERY }, async (request) => {
    const query = parseRequestPart(Query, request.query, 'invalid_query_params');
    const entries = await store.list({
      ...(query.provider_config_key ? { providerConfigKey: query.provider_config_key } : {}),
      ...(query.connection_id ? { connectionId: query.connection_id } : {}),
      ...(query.action ? { action: query.action } : {}),
      ...(query.principal ? { principal: query.principal } : {}),
      ...(query.since ? { since: new Date(query.since) } : {}),
      ...(query.until ? { until: new Date(query.until) } : {}),
      ...(query.cursor ? { before: query.cursor } : {}),
      limit: query.limit,
    });
    return {
      data: entries.map((entry) => ({
        id: entry.id,
        at: entry.at.toISOString(),
        action: entry.action,
        route: entry.route,
        principal: entry.principal,
        provider_config_key: entry.providerConfigKey,
        connection_id: entry.connectionId,
        details: entry.details ?? {},
        count: entry.count,
      })),
      next_cursor: entries.length === query.limit ? (entries.at(-1)?.id ?? null) : null,
    };
  });
}

export const Query = z
  .object({
    provider_config_key: identifier.optional(),
    connection_id: identifier.optional(),
    action: z.string().regex(/^[a-z_.]{1,64}$/, 'must be an action name such as credentials.read').optional(),
    principal: z.string().max(255).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    cursor: z.string().regex(/^\d{1,19}$/, 'must be the next_cursor of a previous page').optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
