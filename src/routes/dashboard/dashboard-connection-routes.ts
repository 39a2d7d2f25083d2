import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isRenewable, modeOf } from '../../credentials/registry.js';
import { ApiError } from '../../errors.js';
import { audit } from '../../plugins/audit-trail.js';
import { unknownConnection } from '../../services/connection-service.js';
import { REFRESH_MARGIN_MS } from '../../services/token-refresher.js';
import type { ConnectionRecord } from '../../store/connections-store.js';
import type { ConnectionStatus } from '../../store/dashboard-store.js';
import { healthOf } from '../../keeper/connection-health.js';
import { identifier, parseRequestPart } from '../request-parsing.js';
import { endUserBody } from '../modern/wire-format.js';
import type { DashboardContext } from './dashboard-context.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/**
 * Why a connection has its status, so the UI can say what happens next:
 * - `refresh_failed`: the last refresh was refused or failed (the row's refresh failure columns);
 * - `expired_no_refresh_token`: expired and cannot be renewed: the end user must connect again;
 * - `expired` / `expires_soon`: within the refresh margin; renewed at the next read;
 * - `expires_soon_no_refresh_token`: will expire soon and cannot be renewed;
 * - `valid` / `no_expiry`: healthy.
 */
export type StatusReason = 'refresh_failed' | 'expired_no_refresh_token' | 'expired' | 'expires_soon_no_refresh_token' | 'expires_soon' | 'valid' | 'no_expiry';

interface StatusInput {
  refresh_attempts: number;
  last_refresh_failure: Date | null;
  expires_at: Date | null;
  /** The credentials' mode can renew them without the end user (src/credentials/). */
  renewable: boolean;
}

export function connectionStatus(row: StatusInput, now: Date): { status: ConnectionStatus; statusReason: StatusReason } {
  if (row.refresh_attempts > 0 && row.last_refresh_failure) return { status: 'refresh_failed', statusReason: 'refresh_failed' };
  if (!row.expires_at) return { status: 'healthy', statusReason: 'no_expiry' };
  const remaining = row.expires_at.getTime() - now.getTime();
  if (remaining >= REFRESH_MARGIN_MS) return { status: 'healthy', statusReason: 'valid' };
  const renewable = row.renewable;
  if (remaining <= 0) return { status: 'expiring', statusReason: renewable ? 'expired' : 'expired_no_refresh_token' };
  return { status: 'expiring', statusReason: renewable ? 'expires_soon' : 'expires_soon_no_refresh_token' };
}

const MAX_PAGE_SIZE = 200;

const ListQuery = z
  .object({
    search: z.string().max(255).optional(),
    integration: identifier.optional(),
    status: z.enum(['healthy', 'expiring', 'refresh_failed', 'needs_attention']).optional(),
    page: z.coerce.number().int().min(0).max(1_000_000).default(0),
    // Nango's dashboard listed every connection; without a limit, so does this (up to a bound).
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
    // Nango v0.16's dashboard passed nothing, later ones `connectionId`: accepted as a search.
    connectionId: identifier.optional(),
  })
  .strict();

const ConnectionParams = z.object({ connectionId: identifier });
const KeyQuery = z.object({ provider_config_key: z.string().optional() }).strict();

function requireKey(value: string | undefined): string {
  if (value === undefined || value.trim() === '') throw new ApiError('missing_provider_config', 'The query parameter "provider_config_key" (the integration key) is required.');
  const parsed = identifier.safeParse(value);
  if (!parsed.success) throw new ApiError('invalid_query_params', 'provider_config_key must be 1 to 255 characters without control characters.');
  return parsed.data;
}

export function registerDashboardConnectionRoutes(app: FastifyInstance, context: DashboardContext): void {
  const { connections, store } = context;

  app.get('/api/v1/connection', READS_QUERY, async (request) => {
    const query = parseRequestPart(ListQuery, request.query, 'invalid_query_params');
    const limit = query.limit ?? 1000;
    const now = context.now();
    const search = query.search?.trim() || query.connectionId;
    const { rows, total } = await store.listConnections({
      ...(search ? { search } : {}),
      ...(query.integration ? { integration: query.integration } : {}),
      ...(query.status ? { status: query.status } : {}),
      limit,
      offset: query.page * limit,
      expiringBefore: new Date(now.getTime() + REFRESH_MARGIN_MS),
      now,
    });
    return {
      connections: rows.map((row) => ({
        id: row.id,
        connectionId: row.connection_id,
        providerConfigKey: row.provider_config_key,
        provider: row.provider,
        creationDate: row.created_at,
        ...connectionStatus(row, now),
        ...healthFields(healthOf({ ...row, expiresAt: row.expires_at }, now)),
        endUser: endUserBody(row.end_user),
        credentialsType: row.credentials_type,
        expiresAt: row.expires_at,
        hasRefreshToken: row.has_refresh_token,
        lastRefreshSuccess: row.last_refresh_success,
        lastRefreshFailure: row.last_refresh_failure,
        lastRefreshError: row.last_refresh_error,
        refreshAttempts: row.refresh_attempts,
      })),
      total,
      page: query.page,
      limit,
    };
  });

  // Nango's shape, credentials included (refreshed first, as Nango did): the dashboard's "Reveal" reads it.
  app.get('/api/v1/connection/:connectionId', READS_QUERY, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const providerConfigKey = requireKey(parseRequestPart(KeyQuery, request.query, 'invalid_query_params').provider_config_key);
    const { connection, config } = await connections.getWithIntegration(providerConfigKey, connectionId);
    audit(request, 'credentials.read', { providerConfigKey, connectionId });
    const { credentials } = connection;
    return {
      connection: {
        id: connection.id,
        connectionId: connection.connection_id,
        provider: config.provider,
        providerConfigKey: connection.provider_config_key,
        creationDate: connection.created_at,
        oauthType: credentials.type,
        connectionConfig: connection.connection_config,
        connectionMetadata: connection.metadata,
        ...modeOf(credentials).show.dashboard(credentials),
        rawCredentials: credentials['raw'] ?? null,
      },
    };
  });

  // What the connection page shows: everything but the secrets, without refreshing, plus the latest events.
  app.get('/api/v1/connection/:connectionId/details', READS_QUERY, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const providerConfigKey = requireKey(parseRequestPart(KeyQuery, request.query, 'invalid_query_params').provider_config_key);
    return details(context, providerConfigKey, connectionId);
  });

  app.post('/api/v1/connection/:connectionId/refresh', READS_QUERY, async (request) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const providerConfigKey = requireKey(parseRequestPart(KeyQuery, request.query, 'invalid_query_params').provider_config_key);
    const current = await context.store.findConnection(providerConfigKey, connectionId);
    if (!current) throw unknownConnection(providerConfigKey, connectionId);
    const credentials = current.credentials;
    if (!isRenewable(credentials)) {
      throw new ApiError(
        'bad_request',
        // A mode that renews, but not these credentials: an OAuth 2 connection the provider gave no refresh token.
        modeOf(credentials).renewal
          ? 'This connection has no refresh token, so it cannot be refreshed; the end user must connect again.'
          : `A ${credentials.type} connection has no token to refresh.`,
      );
    }
    // A failure is recorded on the row by the refresher and answered as 502 with the provider's words.
    await connections.getWithIntegration(providerConfigKey, connectionId, { forceRefresh: true });
    return details(context, providerConfigKey, connectionId);
  });

  app.delete('/api/v1/connection/:connectionId', READS_QUERY, async (request, reply) => {
    const { connectionId } = parseRequestPart(ConnectionParams, request.params, 'invalid_uri_params');
    const providerConfigKey = requireKey(parseRequestPart(KeyQuery, request.query, 'invalid_query_params').provider_config_key);
    await connections.delete(providerConfigKey, connectionId);
    audit(request, 'connection.delete', { providerConfigKey, connectionId });
    return reply.send();
  });

}

async function details(context: DashboardContext, providerConfigKey: string, connectionId: string) {
  const connection = await context.store.findConnection(providerConfigKey, connectionId);
  if (!connection) throw unknownConnection(providerConfigKey, connectionId);
  const integration = await context.integrations.get(providerConfigKey).catch(() => undefined);
  const template = integration ? context.providers.get(integration.provider) : undefined;
  const events = await context.auditLog.list({ providerConfigKey, connectionId, limit: 20 });
  const facts = tokenFacts(connection, integration?.oauth_scopes ?? null);
  return {
    connection: {
      id: connection.id,
      connectionId: connection.connection_id,
      providerConfigKey: connection.provider_config_key,
      provider: integration?.provider ?? null,
      providerDisplayName: template?.display_name ?? integration?.provider ?? null,
      authMode: template?.auth_mode ?? null,
      creationDate: connection.created_at,
      updatedAt: connection.updated_at,
      ...connectionStatus({ ...connection, expires_at: facts.expiresAt, renewable: facts.renewable }, context.now()),
      ...healthFields(healthOf({ ...connection, expiresAt: facts.expiresAt, renewable: facts.renewable }, context.now())),
      refreshDueAt: connection.refresh_due_at,
      ...facts,
      connectionConfig: connection.connection_config,
      metadata: connection.metadata,
      endUser: endUserBody(connection.end_user),
      tags: connection.tags,
      lastRefreshSuccess: connection.last_refresh_success,
      lastRefreshFailure: connection.last_refresh_failure,
      lastRefreshError: connection.last_refresh_error,
      refreshAttempts: connection.refresh_attempts,
    },
    events: events.map((event) => ({ id: event.id, at: event.at, action: event.action, principal: event.principal, route: event.route, details: event.details ?? {}, count: event.count })),
  };
}

/** The keeper's view of the connection: `health` (healthy, refresh_failed, given_up, expired) and since when. */
function healthFields(health: ReturnType<typeof healthOf>) {
  return { health: health.state, healthSince: health.since };
}

/** What can be said about a token without showing it. */
function tokenFacts(connection: ConnectionRecord, requestedScopes: string | null) {
  const { credentials } = connection;
  const raw = (typeof credentials['raw'] === 'object' && credentials['raw'] !== null ? credentials['raw'] : {}) as Record<string, unknown>;
  const expiresAt = modeOf(credentials).expiresAt(credentials);
  const granted = typeof raw['scope'] === 'string' ? raw['scope'].split(/[\s,]+/) : Array.isArray(raw['scope']) ? raw['scope'].map(String) : null;
  const requested = requestedScopes ? requestedScopes.split(/[\s,]+/) : [];
  return {
    credentialsType: credentials.type,
    renewable: isRenewable(credentials),
    tokenType: typeof raw['token_type'] === 'string' ? raw['token_type'] : null,
    scopes: (granted ?? requested).filter(Boolean),
    scopesSource: granted ? ('granted' as const) : ('requested' as const),
    expiresAt,
    hasRefreshToken: typeof credentials['refresh_token'] === 'string' && credentials['refresh_token'] !== '',
  };
}
