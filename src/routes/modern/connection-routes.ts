import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import { ModernImportCredentials } from '../../credentials/registry.js';
import { audit, auditActor } from '../../plugins/audit-trail.js';
import type { ConnectionService } from '../../services/connection-service.js';
import type { EndUser } from '../../store/connections-store.js';
import { booleanFlag, identifier, parseRequestPart, webhookUrl } from '../request-parsing.js';
import type { ModernRouteContext } from './integration-routes.js';
import { connectionBody, connectionListBody } from './wire-format.js';
import { READS_QUERY } from '../../plugins/query-guard.js';
import { decodeListCursor, nextPageLink } from './list-cursor.js';

/**
 * `/connections`: the modern connection API, and the deprecated metadata aliases of §2.2 (`/connection/metadata`,
 * `/connection/:id/metadata`). The other deprecated aliases — `GET /connection`, `GET`/`DELETE /connection/:id`
 * and `POST /connection` — are the seed handlers on purpose (src/routes/seed/connection-routes.ts): seed clients
 * call those paths and need the seed shape (raw row, refresh token kept), which modern Nango no longer answers.
 */
export function registerConnectionRoutes(app: FastifyInstance, connections: ConnectionService, context: ModernRouteContext): void {
  const guard = { onRequest: context.secretKeyOnly };
  const guardReadingQuery = { ...guard, ...READS_QUERY };

  app.get('/connections', guardReadingQuery, async (request, reply) => {
    const query = parseListQuery(request.query as Record<string, unknown>);
    const { items, next } = await connections.listDetailed(query);
    // More connections follow: where they start, in a header, so the body keeps its shape (src/routes/modern/list-cursor.ts).
    if (next) void reply.header('link', nextPageLink(request.url, next));
    const now = new Date();
    return { connections: items.map((item) => connectionListBody(item, now)) };
  });

  app.get('/connections/:connectionId', guardReadingQuery, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const query = parseRequestPart(GetQuery, request.query, 'invalid_query_params');
    const { connection, config } = await connections.getWithIntegration(query.provider_config_key, connectionId, { forceRefresh: query.force_refresh ?? false });
    audit(request, 'credentials.read', { providerConfigKey: query.provider_config_key, connectionId });
    return connectionBody(connection, config.provider, { includeRefreshToken: query.refresh_token ?? false });
  });

  app.post('/connections', guard, async (request, reply) => {
    const body = parseRequestPart(ImportBody, request.body ?? {}, 'invalid_body');
    const connectionId = body.connection_id ?? randomUUID();
    // The import and its audit entry commit together.
    await connections.import(
      {
        providerConfigKey: body.provider_config_key,
        connectionId,
        credentials: body.credentials,
        connectionConfig: body.connection_config ?? {},
        metadata: body.metadata ?? {},
        ...(body.end_user ? { endUser: endUserOf(body.end_user) } : {}),
        ...(body.tags ? { tags: body.tags } : {}),
      },
      auditActor(request),
    );
    const { connection, config } = await connections.getWithIntegration(body.provider_config_key, connectionId);
    return reply.status(201).send(connectionBody(connection, config.provider, { includeRefreshToken: false }));
  });

  for (const path of ['/connections/metadata', '/connection/metadata']) {
    // 201, as Nango answers a metadata POST (the PATCH is a 200).
    app.post(path, guard, async (request, reply) => {
      const body = parseRequestPart(MetadataBody, request.body ?? {}, 'invalid_body');
      await connections.writeMetadata(body.provider_config_key, [body.connection_id].flat(), body.metadata, 'replace');
      for (const connectionId of [body.connection_id].flat()) audit(request, 'connection.update', { providerConfigKey: body.provider_config_key, connectionId, details: { metadata: 'replaced' } });
      return reply.status(201).send(body);
    });
    app.patch(path, guard, async (request) => {
      const body = parseRequestPart(MetadataBody, request.body ?? {}, 'invalid_body');
      await connections.writeMetadata(body.provider_config_key, [body.connection_id].flat(), body.metadata, 'merge');
      for (const connectionId of [body.connection_id].flat()) audit(request, 'connection.update', { providerConfigKey: body.provider_config_key, connectionId, details: { metadata: 'merged' } });
      return body;
    });
  }

  // Deprecated per-connection metadata aliases: the key in the `Provider-Config-Key` header (Nango's documented
  // form) or in `?provider_config_key=`.
  app.post('/connection/:connectionId/metadata', guardReadingQuery, async (request, reply) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const provider_config_key = providerConfigKeyOf(request);
    const metadata = parseRequestPart(z.record(z.string(), z.unknown()), request.body ?? {}, 'invalid_body');
    await connections.writeMetadata(provider_config_key, [connectionId], metadata, 'replace');
    audit(request, 'connection.update', { providerConfigKey: provider_config_key, connectionId, details: { metadata: 'replaced' } });
    return reply.status(201).send({ metadata, connection_id: connectionId, provider_config_key });
  });
  app.patch('/connection/:connectionId/metadata', guardReadingQuery, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const provider_config_key = providerConfigKeyOf(request);
    const metadata = parseRequestPart(z.record(z.string(), z.unknown()), request.body ?? {}, 'invalid_body');
    await connections.writeMetadata(provider_config_key, [connectionId], metadata, 'merge');
    audit(request, 'connection.update', { providerConfigKey: provider_config_key, connectionId, details: { metadata: 'merged' } });
    return { metadata, connection_id: connectionId, provider_config_key };
  });

  app.patch('/connections/:connectionId', guardReadingQuery, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const { provider_config_key } = parseRequestPart(KeyQuery, request.query, 'invalid_query_params');
    const body = parseRequestPart(PatchBody, request.body ?? {}, 'invalid_body');
    await connections.patch(provider_config_key, connectionId, {
      ...(body.end_user !== undefined ? { end_user: body.end_user === null ? null : endUserOf(body.end_user) } : {}),
      ...(body.tags !== undefined ? { tags: body.tags } : {}),
      ...(body.webhook_url_override !== undefined ? { webhook_url_override: body.webhook_url_override } : {}),
    });
    audit(request, 'connection.update', { providerConfigKey: provider_config_key, connectionId, details: { fields: Object.keys(body) } });
    return { success: true };
  });

  app.delete('/connections/:connectionId', guardReadingQuery, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const { provider_config_key } = parseRequestPart(KeyQuery, request.query, 'invalid_query_params');
    await connections.delete(provider_config_key, connectionId);
    audit(request, 'connection.delete', { providerConfigKey: provider_config_key, connectionId });
    return { success: true };
  });
}

const ConnectionParams = z.object({ connectionId: identifier });
export const KeyQuery = z.object({ provider_config_key: identifier }).strict();
export const OptionalKeyQuery = z.object({ provider_config_key: identifier.optional() }).strict();

/** The integration key of a deprecated metadata route: the query's, else the `Provider-Config-Key` header's. */
function providerConfigKeyOf(request: FastifyRequest): string {
  const { provider_config_key: fromQuery } = parseRequestPart(OptionalKeyQuery, request.query, 'invalid_query_params');
  if (fromQuery !== undefined) return fromQuery;
  const header = request.headers['provider-config-key'];
  if (header === undefined || header === '') {
    throw new ApiError('invalid_query_params', 'provider_config_key is required: send it as the query parameter "provider_config_key" or the header "Provider-Config-Key".');
  }
  return parseRequestPart(identifier, header, 'invalid_query_params');
}

export const GetQuery = z
  .object({
    provider_config_key: identifier,
    force_refresh: booleanFlag.optional(),
    refresh_token: booleanFlag.optional(),
    refresh_github_app_jwt_token: booleanFlag.optional(),
  })
  .strict();

export const ListQuery = z
  .object({
    connectionId: identifier.optional(),
    search: z.string().max(255).optional(),
    endUserId: identifier.optional(),
    endUserOrganizationId: identifier.optional(),
    integrationId: z.string().max(5000).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    page: z.coerce.number().int().min(0).max(1_000_000).default(0),
    cursor: z.string().min(1).max(100).optional(),
  })
  .strict()
  .refine((query) => query.cursor === undefined || query.page === 0, { message: 'Pass either "page" or "cursor", not both: the cursor already says where the page starts.', path: ['cursor'] });

/** `tags[<key>]=<value>` arrive as flat keys; the rest goes through the strict schema. */
function parseListQuery(raw: Record<string, unknown>) {
  const tags: Record<string, string> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const tag = /^tags\[([^\]]{1,100})\]$/.exec(key);
    if (tag) {
      if (typeof value !== 'string') throw new ApiError('invalid_query_params', `The query parameter "${key}" is given more than once.`);
      tags[tag[1] ?? ''] = value;
    } else {
      rest[key] = value;
    }
  }
  const query = parseRequestPart(ListQuery, rest, 'invalid_query_params');
  const endUserTags: Record<string, string> = {};
  const connectionTags: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) (key.startsWith('end_user_') ? endUserTags : connectionTags)[key] = value;
  return {
    ...(query.connectionId !== undefined ? { connectionId: query.connectionId } : {}),
    ...(query.search !== undefined ? { search: query.search } : endUserTags['end_user_display_name'] ? { search: endUserTags['end_user_display_name'] } : {}),
    ...(query.endUserId !== undefined ? { endUserId: query.endUserId } : {}),
    ...(query.endUserOrganizationId !== undefined ? { endUserOrganizationId: query.endUserOrganizationId } : {}),
    ...(query.integrationId ? { integrationIds: query.integrationId.split(',').map((id) => id.trim()).filter(Boolean) } : {}),
    ...(Object.keys(connectionTags).length > 0 ? { tags: connectionTags } : {}),
    limit: query.limit,
    offset: query.page * query.limit,
    ...(query.cursor !== undefined ? { after: decodeListCursor(query.cursor) } : {}),
  };
}

const tagsSchema = z.record(z.string().min(1).max(64), z.string().max(255));

export const EndUserSchema = z
  .object({
    id: z.string().min(1).max(255),
    email: z.email().optional(),
    display_name: z.string().max(255).optional(),
    tags: tagsSchema.optional(),
    organization: z.object({ id: z.string().min(1).max(255), display_name: z.string().max(255).optional() }).strict().optional(),
  })
  .strict();

function endUserOf(input: z.infer<typeof EndUserSchema>): EndUser {
  return {
    id: input.id,
    email: input.email ?? null,
    display_name: input.display_name ?? null,
    tags: input.tags ?? {},
    organization: input.organization ? { id: input.organization.id, display_name: input.organization.display_name ?? null } : null,
  };
}

export const MetadataBody = z
  .object({
    connection_id: z.union([identifier, z.array(identifier).min(1).max(1000)]),
    provider_config_key: identifier,
    metadata: z.record(z.string(), z.unknown()),
  })
  .strict();

export const PatchBody = z
  .object({
    end_user: EndUserSchema.nullable().optional(),
    tags: tagsSchema.optional(),
    webhook_url_override: webhookUrl.nullable().optional(),
  })
  .strict();

export const ImportBody = z
  .object({
    provider_config_key: identifier,
    connection_id: identifier.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    connection_config: z.record(z.string(), z.unknown()).optional(),
    credentials: ModernImportCredentials,
    end_user: EndUserSchema.optional(),
    tags: tagsSchema.optional(),
  })
  .strict();
