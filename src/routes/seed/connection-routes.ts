import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../errors.js';
import { credentialMode, seedImportModes } from '../../credentials/registry.js';
import { audit, auditActor } from '../../plugins/audit-trail.js';
import type { AuthorisedConnection, ConnectionService } from '../../services/connection-service.js';
import type { ConnectionSummary } from '../../store/connections-store.js';
import { booleanFlag, identifier, isJsonObject, parseRequestPart } from '../request-parsing.js';
import { READS_QUERY } from '../../plugins/query-guard.js';
import { seedConnectionBody, seedConnectionListItem } from './seed-wire-format.js';

/** Rows per statement of the streamed seed list. */
const SEED_LIST_BATCH = 1_000;

/**
 * `{"connections":[…]}` as text chunks, one per batch: the same JSON the unstreamed answer is. The first batch
 * is read before anything is sent, so a database that cannot answer gets its 503 rather than a cut 200.
 */
async function seedListJson(batches: AsyncGenerator<ConnectionSummary[]>): Promise<AsyncGenerator<string>> {
  const first = await batches.next();
  const rows = (batch: ConnectionSummary[]) => batch.map((row) => JSON.stringify(seedConnectionListItem(row))).join(',');
  return (async function* chunks() {
    yield '{"connections":[';
    if (!first.done) {
      yield rows(first.value);
      for await (const batch of batches) yield ',' + rows(batch);
    }
    yield ']}';
  })();
}

export interface SeedConnectionRouteOptions {
  /** The auth mode of an integration's provider (an unknown integration is an error): an import without `type` takes it. */
  authModeOf: (providerConfigKey: string) => Promise<string | undefined>;
  /** Whether a read includes refresh tokens when its query does not say (NANGO_SEED_REFRESH_TOKENS). */
  refreshTokensByDefault: boolean;
}

/** Seed `/connection`: the stored connection (credentials included), the v0.16 list, delete, and the v0.20 import. */
export function registerSeedConnectionRoutes(app: FastifyInstance, connections: ConnectionService, options: SeedConnectionRouteOptions): void {
  app.get('/connection/:connectionId', READS_QUERY, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const query = parseRequestPart(GetQuery, request.query, 'invalid_query_params');
    const providerConfigKey = requireProviderConfigKey(query.provider_config_key);
    const { connection, config } = await connections.getWithIntegration(providerConfigKey, connectionId, { forceRefresh: query.force_refresh ?? false });
    audit(request, 'credentials.read', { providerConfigKey, connectionId });
    return seedConnectionBody(connection, config.provider, { includeRefreshToken: query.refresh_token ?? options.refreshTokensByDefault });
  });

  app.get('/connection', READS_QUERY, async (request, reply) => {
    const query = parseRequestPart(ListQuery, request.query, 'invalid_query_params');
    if (query.connectionId === undefined) {
      // Unpaged by design (v0.16 clients read it whole): streamed a batch at a time, never built as one array.
      return reply.type('application/json; charset=utf-8').send(Readable.from(await seedListJson(connections.listInBatches(SEED_LIST_BATCH))));
    }
    const rows = await connections.list({ connectionId: query.connectionId });
    return { connections: rows.map(seedConnectionListItem) };
  });

  // Modern Nango answers `{"success": true}`; a seed client ignores the body, so one answer serves both.
  app.delete('/connection/:connectionId', READS_QUERY, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const query = parseRequestPart(DeleteQuery, request.query, 'invalid_query_params');
    const providerConfigKey = requireProviderConfigKey(query.provider_config_key);
    await connections.delete(providerConfigKey, connectionId);
    audit(request, 'connection.delete', { providerConfigKey, connectionId });
    return { success: true };
  });

  app.post('/connection', async (request, reply) => {
    const body = await parseImportBody(request.body, options.authModeOf);
    // The import and its audit entry commit together.
    await connections.import(body.input, auditActor(request));
    return reply.status(201).send(body.echo);
  });
}

const ConnectionParams = z.object({ connectionId: identifier });

export const GetQuery = z
  .object({
    provider_config_key: z.string().optional(),
    force_refresh: booleanFlag.optional(),
    // Sent by modern SDKs on this deprecated alias; accepted so they are not refused.
    refresh_token: booleanFlag.optional(),
    refresh_github_app_jwt_token: booleanFlag.optional(),
  })
  .strict();

export const ListQuery = z.object({ connectionId: identifier.optional() }).strict();
export const DeleteQuery = z.object({ provider_config_key: z.string().optional() }).strict();

/** Nango v0.16 let a missing key reach the query builder and answered 500; a 400 that names the parameter is what a client needs. */
function requireProviderConfigKey(value: string | undefined): string {
  if (!value) throw new ApiError('missing_provider_config', 'The query parameter "provider_config_key" is required.');
  return parseRequestPart(identifier, value, 'invalid_query_params');
}

const optionalText = z.string().min(1).optional();

export const ImportBody = z
  .object({
    connection_id: identifier,
    provider_config_key: identifier,
    type: z.string().transform((type) => type.toUpperCase()).optional(),
    access_token: optionalText,
    refresh_token: optionalText,
    expires_at: z.union([z.iso.datetime({ offset: true }), z.iso.date()]).optional(),
    // Up to ten years: beyond that it is a mistake, and far beyond it the date cannot be represented.
    expires_in: z.number().int().positive().max(10 * 365 * 24 * 3600).optional(),
    oauth_token: optionalText,
    oauth_token_secret: optionalText,
    metadata: z.record(z.string(), z.unknown()).optional(),
    connection_config: z.record(z.string(), z.unknown()).optional(),
    raw: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** The v0.20 import body: OAuth2 tokens or an OAuth1 token pair (the modes with a seed import), for connections made outside this server. */
async function parseImportBody(body: unknown, authModeOf: SeedConnectionRouteOptions['authModeOf']): Promise<{ input: AuthorisedConnection; echo: Record<string, unknown> }> {
  const accepted = seedImportModes().map((mode) => `"${mode}"`).join(' or ');
  if (!isJsonObject(body)) throw new ApiError('missing_body', 'The request body must be a JSON object.');
  if (!body['connection_id']) throw new ApiError('missing_connection', 'The field "connection_id" is required.');
  if (!body['provider_config_key']) throw new ApiError('missing_provider_config', 'The field "provider_config_key" is required.');
  const parsed = parseRequestPart(ImportBody, body, 'invalid_body');
  // Without `type`, the credentials are of the kind the integration's provider issues, as modern Nango derives them.
  const type = parsed.type || (await authModeOf(parsed.provider_config_key));
  const seedImport = credentialMode(type)?.seedImport;
  if (!seedImport) {
    throw new ApiError(
      'unknown_oauth_type',
      parsed.type
        ? `The connection type "${parsed.type}" is not supported here; use ${accepted}.`
        : `The integration "${parsed.provider_config_key}" uses ${type ?? 'an unknown auth mode'}, which POST /connection cannot import (it takes ${accepted}); import it with POST /connections.`,
    );
  }
  const credentials = seedImport({ ...parsed, raw: parsed.raw ?? body }, new Date());
  return {
    input: {
      providerConfigKey: parsed.provider_config_key,
      connectionId: parsed.connection_id,
      credentials,
      connectionConfig: parsed.connection_config ?? {},
      metadata: parsed.metadata ?? {},
    },
    echo: body,
  };
}
