import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError, type ErrorCode } from '../../errors.js';
import { audit } from '../../plugins/audit-trail.js';
import type { IntegrationInput, IntegrationService } from '../../services/integration-service.js';
import { identifier, isJsonObject, parseRequestPart } from '../request-parsing.js';

/** Seed `/config`: integrations under their v0.16 names (`provider_config_key`, `oauth_client_id`, …). */
export function registerSeedConfigRoutes(app: FastifyInstance, integrations: IntegrationService): void {
  app.get('/config', async (request) => {
    const configs = await integrations.list();
    // The seed list carries every client secret in clear.
    audit(request, 'integration.credentials_read', { details: { integrations: configs.length } });
    return { configs: configs.map((config) => integrations.readable(config)) };
  });

  app.get('/config/:providerConfigKey', async (request) => {
    const { providerConfigKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    const config = await integrations.get(providerConfigKey);
    audit(request, 'integration.credentials_read', { providerConfigKey });
    return { config: integrations.readable(config) };
  });

  app.post('/config', async (request) => {
    const input = parseConfigBody(request.body, integrations);
    const configId = await integrations.create(input);
    audit(request, 'integration.create', { providerConfigKey: input.uniqueKey, details: { provider: input.provider } });
    return { config_id: configId };
  });

  app.put('/config', async (request, reply) => {
    const input = parseConfigBody(request.body, integrations);
    await integrations.update(input);
    audit(request, 'integration.update', { providerConfigKey: input.uniqueKey });
    return reply.send();
  });

  app.delete('/config/:providerConfigKey', async (request, reply) => {
    const { providerConfigKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    await integrations.delete(providerConfigKey);
    audit(request, 'integration.delete', { providerConfigKey });
    return reply.send();
  });
}

const KeyParams = z.object({ providerConfigKey: identifier });

const requiredText = z.string().trim().min(1);
const scopes = z.union([z.string(), z.array(z.string())]);

/** Checked in the seed server's order, so a client sees the same first error it saw with Nango. */
const CONFIG_FIELDS: { field: string; code: ErrorCode; schema: z.ZodType; providerCheckAfter?: true }[] = [
  { field: 'provider_config_key', code: 'missing_provider_config', schema: identifier },
  { field: 'provider', code: 'missing_provider_template', schema: requiredText, providerCheckAfter: true },
  { field: 'oauth_client_id', code: 'missing_client_id', schema: requiredText },
  { field: 'oauth_client_secret', code: 'missing_client_secret', schema: requiredText },
  { field: 'oauth_scopes', code: 'missing_scopes', schema: scopes },
];

export const ConfigBody = z
  .object({
    provider_config_key: identifier,
    provider: requiredText,
    oauth_client_id: requiredText,
    oauth_client_secret: requiredText,
    oauth_scopes: scopes,
    /** Custody's: the only host connections of this integration may use; absent leaves it unchanged, null clears it. */
    pinned_host: z.string().max(300).nullable().optional(),
  })
  .strict();

function parseConfigBody(body: unknown, integrations: IntegrationService): IntegrationInput {
  if (!isJsonObject(body)) throw new ApiError('missing_body', 'The request body must be a JSON object.');
  for (const { field, code, schema, providerCheckAfter } of CONFIG_FIELDS) {
    const value = body[field];
    if (value === undefined || value === null || value === '') throw new ApiError(code, `The field "${field}" is required.`);
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ApiError('invalid_body', `The field "${field}" ${field === 'oauth_scopes' ? 'must be a string or a list of strings' : 'must be a non-empty string'}.`);
    if (providerCheckAfter) integrations.assertKnownProvider(String(parsed.data));
  }
  const parsed = parseRequestPart(ConfigBody, body, 'invalid_body');
  return {
    uniqueKey: parsed.provider_config_key,
    provider: parsed.provider,
    clientId: parsed.oauth_client_id,
    clientSecret: parsed.oauth_client_secret,
    scopes: parsed.oauth_scopes,
    ...(parsed.pinned_host !== undefined ? { pinnedHost: parsed.pinned_host } : {}),
  };
}
