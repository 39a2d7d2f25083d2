import { z } from 'zod';

/**
 * What the server answers, as zod schemas: the OpenAPI document describes the responses with them, and the
 * conformance spec checks real answers against the document. Request schemas live with their routes.
 */

const timestamp = z.string().meta({ format: 'date-time' });
const jsonObject = z.record(z.string(), z.unknown());

export const ModernErrorBody = z
  .object({
    error: z
      .object({
        code: z.string().meta({ description: 'A stable, machine-readable code (for example unknown_connection).' }),
        message: z.string().meta({ description: 'What went wrong and what to change, for a person.' }),
        errors: z.array(z.object({ code: z.string(), message: z.string(), path: z.array(z.union([z.string(), z.number()])) })).optional(),
        payload: jsonObject.optional(),
      })
      .strict(),
  })
  .strict()
  .meta({ id: 'ModernError', description: 'The modern API\'s error body.' });

export const SeedErrorBody = z
  .object({
    error: z.string().meta({ description: 'What went wrong, for a person.' }),
    type: z.string().meta({ description: 'The seed (v0.16) error code, typos kept (unkown_connection).' }),
    payload: jsonObject,
  })
  .strict()
  .meta({ id: 'SeedError', description: 'The seed API\'s error body.' });

export const EndUserBody = z
  .object({
    id: z.string(),
    display_name: z.string().nullable(),
    email: z.string().nullable(),
    tags: z.record(z.string(), z.string()),
    organization: z.object({ id: z.string(), display_name: z.string().nullable() }).strict().nullable(),
  })
  .strict()
  .meta({ id: 'ConnectionEndUser' });

export const ConnectionErrorBody = z
  .object({ type: z.enum(['auth', 'sync']), log_id: z.string() })
  .strict()
  .meta({ id: 'ConnectionError', description: 'An `auth` error while the connection\'s token refresh is failing.' });

export const ConnectionHealthBody = z
  .object({
    state: z.enum(['healthy', 'refresh_failed', 'given_up', 'expired']),
    since: timestamp.nullable().meta({ description: 'When the connection entered this state; null while healthy.' }),
  })
  .strict()
  .meta({ id: 'ConnectionHealth', description: 'Custody\'s: whether the token keeper can keep the connection\'s credentials fresh.' });

const connectionCore = {
  id: z.number().int().meta({ description: 'The server\'s own id of the connection row.' }),
  connection_id: z.string(),
  provider_config_key: z.string().meta({ description: 'The integration\'s key (unique_key).' }),
  errors: z.array(ConnectionErrorBody),
  end_user: EndUserBody.nullable(),
  tags: z.record(z.string(), z.string()),
  metadata: jsonObject,
  health: ConnectionHealthBody,
};

/** A connection's credentials: `type` says the auth mode; the other fields are the mode's (OAuth 2 tokens, an API key…). */
export const CredentialsBody = z
  .looseObject({ type: z.string().meta({ description: 'OAUTH2, OAUTH1, OAUTH2_CC, API_KEY, BASIC or NONE.' }) })
  .meta({ id: 'Credentials' });

export const ModernConnectionBody = z
  .object({
    ...connectionCore,
    provider: z.string().meta({ description: 'The provider\'s name in the catalog (github, google…).' }),
    connection_config: jsonObject,
    webhook_url_override: z.string().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
    last_fetched_at: timestamp,
    credentials: CredentialsBody,
  })
  .strict()
  .meta({ id: 'ConnectionFull' });

export const ModernConnectionListItem = z
  .object({ ...connectionCore, provider: z.string().nullable(), created: timestamp })
  .strict()
  .meta({ id: 'ConnectionListItem' });

export const IntegrationBody = z
  .object({
    unique_key: z.string(),
    provider: z.string(),
    display_name: z.string(),
    logo: z.string().meta({ description: 'URL of the provider\'s logo (SVG), served by this server.' }),
    forward_webhooks: z.boolean(),
    pinned_host: z.string().nullable().meta({ description: 'Custody\'s: the only host this integration\'s connections may use.' }),
    created_at: timestamp,
    updated_at: timestamp,
    webhook_url: z.string().nullable().optional().meta({ description: 'With include=webhook.' }),
    credentials: jsonObject.nullable().optional().meta({ description: 'With include=credentials: the OAuth app (client secret included).' }),
  })
  .strict()
  .meta({ id: 'Integration' });

export const ProviderBody = z
  .looseObject({ name: z.string(), display_name: z.string(), auth_mode: z.string(), docs: z.string(), logo_url: z.string() })
  .meta({ id: 'Provider', description: 'A provider of the catalog: its template (URLs, auth mode, proxy settings, the fields it asks for).' });

export const MetadataAnswer = z
  .object({ connection_id: z.union([z.string(), z.array(z.string())]), provider_config_key: z.string(), metadata: jsonObject })
  .strict();

export const SuccessAnswer = z.object({ success: z.literal(true) }).strict();

export const ConnectSessionCreated = z
  .object({ data: z.object({ token: z.string(), connect_link: z.string(), expires_at: timestamp }).strict() })
  .strict();

export const ConnectSessionRead = z.object({
  data: z.looseObject({
    allowed_integrations: z.array(z.string()).nullable(),
    integrations_config_defaults: jsonObject,
    overrides: jsonObject,
    tags: z.record(z.string(), z.string()),
    endUser: EndUserBody.nullable(),
    isReconnecting: z.boolean(),
  }),
});

export const FormConnectAnswer = z.object({ providerConfigKey: z.string(), connectionId: z.string() }).strict();

export const AuditLogPage = z
  .object({
    data: z.array(
      z
        .object({
          id: z.string(),
          at: timestamp,
          action: z.string(),
          route: z.string(),
          principal: z.string(),
          provider_config_key: z.string().nullable(),
          connection_id: z.string().nullable(),
          details: jsonObject,
        })
        .strict(),
    ),
    next_cursor: z.string().nullable(),
  })
  .strict();

/** Seed `/config` rows: the stored row, client secret in clear, as v0.16 answered. */
export const SeedConfigBody = z
  .looseObject({
    id: z.number().int(),
    unique_key: z.string(),
    provider: z.string(),
    oauth_client_id: z.string().nullable(),
    oauth_client_secret: z.string().nullable(),
    oauth_scopes: z.string().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'SeedConfig' });

export const SeedConnectionBody = z
  .object({
    id: z.number().int(),
    created_at: timestamp,
    updated_at: timestamp,
    provider_config_key: z.string(),
    connection_id: z.string(),
    credentials: CredentialsBody,
    connection_config: jsonObject,
    metadata: jsonObject,
    provider: z.string().meta({ description: 'The provider\'s name in the catalog (modern Nango\'s field).' }),
    errors: z.array(ConnectionErrorBody),
    end_user: EndUserBody.nullable(),
    tags: z.record(z.string(), z.string()),
    last_fetched_at: timestamp,
  })
  .strict()
  .meta({ id: 'SeedConnection', description: 'Every field a seed (v0.16) client reads, plus the fields modern Nango answers on this path.' });

export const SeedConnectionListItem = z
  .object({
    id: z.number().int(),
    connection_id: z.string(),
    provider: z.string().meta({ description: 'The integration\'s key, as the seed server named it (see provider_config_key).' }),
    created: timestamp,
    provider_config_key: z.string(),
    metadata: jsonObject,
    tags: z.record(z.string(), z.string()),
    errors: z.array(ConnectionErrorBody),
    end_user: EndUserBody.nullable(),
  })
  .strict()
  .meta({ id: 'SeedConnectionListItem' });

export const HealthAnswer = z.object({ result: z.literal('ok') }).strict();
export const ReadyAnswer = z.object({ result: z.literal('ok'), database: z.literal('ok') }).strict();
