import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IntegrationCredentialsInput } from '../../credentials/registry.js';
import { ApiError } from '../../errors.js';
import { audit } from '../../plugins/audit-trail.js';
import type { Principal } from '../../plugins/principal.js';
import type { ProviderCatalog } from '../../providers/provider-catalog.js';
import type { IntegrationService } from '../../services/integration-service.js';
import { identifier, parseRequestPart } from '../request-parsing.js';
import { integrationBody } from './wire-format.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

export interface ModernRouteContext {
  serverUrl: string;
  providers: ProviderCatalog;
  /** Guards for the two kinds of caller a route accepts. */
  secretKeyOnly: (request: import('fastify').FastifyRequest) => Promise<void>;
  secretKeyOrSession: (request: import('fastify').FastifyRequest) => Promise<void>;
}

/** `/integrations`: the modern name and shape of the seed `/config`. */
export function registerIntegrationRoutes(app: FastifyInstance, integrations: IntegrationService, context: ModernRouteContext): void {
  app.get('/integrations', { onRequest: context.secretKeyOrSession }, async (request) => {
    const allowed = allowedIntegrations(request.principal);
    const configs = (await integrations.list()).filter((config) => !allowed || allowed.includes(config.unique_key));
    return { data: configs.map((config) => integrationBody(config, context.providers.get(config.provider), context.serverUrl)) };
  });

  app.get('/integrations/:uniqueKey', { onRequest: context.secretKeyOnly, ...READS_QUERY }, async (request) => {
    const { uniqueKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    const query = parseRequestPart(IncludeQuery, request.query, 'invalid_query_params');
    const config = await integrations.get(uniqueKey).catch(notFound(uniqueKey));
    if (query.include.includes('credentials')) audit(request, 'integration.credentials_read', { providerConfigKey: uniqueKey });
    return { data: integrationBody(config, context.providers.get(config.provider), context.serverUrl, query.include) };
  });

  app.post('/integrations', { onRequest: context.secretKeyOnly }, async (request) => {
    const body = parseRequestPart(CreateBody, request.body ?? {}, 'invalid_body');
    await integrations.create({
      uniqueKey: body.unique_key,
      provider: body.provider,
      clientId: body.credentials?.clientId ?? null,
      clientSecret: body.credentials?.clientSecret ?? null,
      scopes: body.credentials?.scopes ?? null,
      ...(body.credentials?.appLink !== undefined ? { appLink: body.credentials.appLink } : {}),
      displayName: body.display_name ?? null,
      ...(body.forward_webhooks !== undefined ? { forwardWebhooks: body.forward_webhooks } : {}),
      ...(body.pinned_host !== undefined ? { pinnedHost: body.pinned_host } : {}),
    });
    const config = await integrations.get(body.unique_key);
    audit(request, 'integration.create', { providerConfigKey: body.unique_key, details: { provider: body.provider } });
    return { data: integrationBody(config, context.providers.get(config.provider), context.serverUrl) };
  });

  app.patch('/integrations/:uniqueKey', { onRequest: context.secretKeyOnly }, async (request) => {
    const { uniqueKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    const body = parseRequestPart(PatchBody, request.body ?? {}, 'invalid_body');
    await integrations.get(uniqueKey).catch(notFound(uniqueKey));
    const config = await integrations.patch(uniqueKey, {
      ...(body.unique_key !== undefined ? { uniqueKey: body.unique_key } : {}),
      ...(body.display_name !== undefined ? { displayName: body.display_name } : {}),
      ...(body.forward_webhooks !== undefined ? { forwardWebhooks: body.forward_webhooks } : {}),
      ...(body.pinned_host !== undefined ? { pinnedHost: body.pinned_host } : {}),
      ...(body.credentials
        ? {
            clientId: body.credentials.clientId,
            clientSecret: body.credentials.clientSecret,
            ...(body.credentials.scopes !== undefined ? { scopes: body.credentials.scopes } : {}),
            ...(body.credentials.appLink !== undefined ? { appLink: body.credentials.appLink } : {}),
          }
        : {}),
    });
    audit(request, 'integration.update', { providerConfigKey: uniqueKey, details: { fields: Object.keys(body), ...(body.unique_key ? { renamed_to: body.unique_key } : {}) } });
    return { data: integrationBody(config, context.providers.get(config.provider), context.serverUrl) };
  });

  app.delete('/integrations/:uniqueKey', { onRequest: context.secretKeyOnly }, async (request) => {
    const { uniqueKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    await integrations.get(uniqueKey).catch(notFound(uniqueKey));
    await integrations.delete(uniqueKey);
    audit(request, 'integration.delete', { providerConfigKey: uniqueKey });
    return { success: true };
  });
}

export function allowedIntegrations(principal: Principal | null): string[] | undefined {
  return principal?.kind === 'connect_session' ? (principal.session.allowedIntegrations ?? undefined) : undefined;
}

function notFound(uniqueKey: string): (error: unknown) => never {
  return (error) => {
    if (error instanceof ApiError && error.code === 'unknown_provider_config') throw new ApiError('not_found', `No integration has the key "${uniqueKey}".`);
    throw error;
  };
}

const KeyParams = z.object({ uniqueKey: identifier });

export const IncludeQuery = z
  .object({
    include: z
      .union([z.string(), z.array(z.string())])
      .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((item) => item.trim()).filter(Boolean))
      .pipe(z.array(z.enum(['webhook', 'credentials'])))
      .optional(),
    'include[]': z.union([z.string(), z.array(z.string())]).optional(),
  })
  .strict()
  .transform((query) => ({ include: [...(query.include ?? []), ...[query['include[]'] ?? []].flat()] }));

/** What creation and a partial update share; `integration_config` and `custom` are accepted and not used. */
const integrationFields = {
  display_name: z.string().max(255).optional(),
  /** Custody's: the only host connections of this integration may use (null clears it). */
  pinned_host: z.string().max(300).nullable().optional(),
  credentials: IntegrationCredentialsInput.optional(),
  forward_webhooks: z.boolean().optional(),
  integration_config: z.record(z.string(), z.unknown()).optional(),
  custom: z.record(z.string(), z.string()).optional(),
};

export const CreateBody = z.object({ provider: z.string().min(1), unique_key: identifier, ...integrationFields }).strict();
export const PatchBody = z.object({ unique_key: identifier.optional(), ...integrationFields }).strict();
