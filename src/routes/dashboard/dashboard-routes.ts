import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { authModeFacts } from '../../credentials/auth-modes.js';
import { ApiError, type ErrorCode } from '../../errors.js';
import { audit } from '../../plugins/audit-trail.js';
import { dashboardSignIn } from '../../plugins/dashboard-auth.js';
import { connectionConfigNames } from '../../providers/interpolation.js';
import type { ProviderTemplate } from '../../providers/provider-schema.js';
import { templateUrls } from '../../providers/template-urls.js';
import { VERSION } from '../../version.js';
import { identifier, isJsonObject, parseRequestPart } from '../request-parsing.js';
import { logoUrl } from '../modern/wire-format.js';
import type { DashboardContext } from './dashboard-context.js';
import { databaseSettings } from './database-settings.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/** Account, settings, provider and integration routes of `/api/v1/*`, behind the dashboard family's guard. */
export function registerDashboardRoutes(app: FastifyInstance, context: DashboardContext): void {
  registerAccountRoutes(app, context);
  registerIntegrationRoutes(app, context);
}

/** Open, as in Nango: the catalog is the same for everyone and holds no secret. */
export function registerProviderListRoute(app: FastifyInstance, context: DashboardContext): void {
  app.get('/api/v1/provider', READS_QUERY, async (request) => {
    const { search } = parseRequestPart(z.object({ search: z.string().max(200).optional() }).strict(), request.query, 'invalid_query_params');
    const needle = search?.trim().toLowerCase();
    return context.providers
      .list()
      .filter(({ name, template }) => !needle || [name, template.display_name.toLowerCase(), ...(template.categories ?? [])].some((text) => text.includes(needle)))
      .map(({ name, template }) => ({
        name,
        defaultScopes: template.default_scopes ?? [],
        displayName: template.display_name,
        authMode: template.auth_mode,
        categories: template.categories ?? [],
        logoUrl: logoUrl(context.config.serverUrl, name),
      }));
  });
}

function registerAccountRoutes(app: FastifyInstance, context: DashboardContext): void {
  const { config } = context;

  // Nango's dashboard calls it to make the browser show its login prompt.
  app.get('/api/v1/basic', async (_request, reply) => reply.send());

  app.get('/api/v1/account', async () => {
    const account = await context.store.account();
    return {
      account: {
        id: account?.id ?? 0,
        created_at: account?.created_at ?? null,
        updated_at: account?.updated_at ?? null,
        // Self-hosted Nango shows the configured key here, or "(none)".
        secret_key: config.secretKey ?? '(none)',
        public_key: account?.public_key ?? null,
        callback_url: config.callbackUrl,
        owner_id: account?.owner_id ?? 0,
        name: account?.name ?? 'My Organization',
        secret_key_iv: null,
        secret_key_tag: null,
        host: config.serverUrl,
      },
    };
  });

  app.get('/api/v1/user', async (request) => {
    const user = await context.store.user();
    const signedIn = config.dashboard && request.principal?.kind === 'dashboard_user' ? request.principal.user : undefined;
    return { user: { id: user?.id ?? 0, accountId: user?.account_id ?? 0, email: user?.email ?? null, name: signedIn ?? user?.name ?? 'unknown' } };
  });

  app.get('/api/v1/settings', async () => ({
    settings: {
      version: VERSION,
      serverUrl: config.serverUrl,
      callbackUrl: config.callbackUrl,
      connectUrl: config.publicConnectUrl,
      secretKeyConfigured: config.secretKey !== undefined,
      encryptionEnabled: config.encryptionKey !== undefined,
      encryptionRotating: config.previousEncryptionKey !== undefined,
      hmac: config.hmac.enabled ? { enabled: true, algorithm: config.hmac.algorithm } : { enabled: false },
      webhookUrl: config.webhook.url ?? null,
      webhookSigned: config.webhook.url !== undefined && config.webhook.signingKey !== undefined,
      dashboardAuth: config.dashboard !== undefined,
      dashboardSignIn: dashboardSignIn(config),
      publicConnect: config.publicConnect,
      database: config.database.kind,
      databaseSettings: databaseSettings(config.database),
      providersFile: config.providersFile ?? null,
      auditRetentionDays: config.auditRetentionDays,
      tokenKeeper: {
        sweepSeconds: config.keeper.sweepMs / 1000,
        maxAgeHours: config.keeper.maxAgeMs / 3_600_000,
        giveUpDays: config.keeper.giveUpMs / 86_400_000,
        concurrency: config.keeper.concurrency,
      },
      telemetry: config.telemetry,
      telemetryEndpointSet: config.telemetryEndpoint !== undefined,
      clock: context.clock.status(),
    },
  }));

  // The Try-it button: a connect session for one integration, so the popup runs exactly as an end user's would.
  app.post('/api/v1/connect-session', async (request, reply) => {
    const body = parseRequestPart(ConnectSessionBody, request.body ?? {}, 'invalid_body');
    await context.integrations.get(body.integration);
    const created = await context.connectSessions.create({
      endUser: { id: body.endUserId ?? 'dashboard-test', display_name: 'Dashboard test', email: null, tags: {} },
      organization: null,
      allowedIntegrations: [body.integration],
      integrationsConfigDefaults: {},
      overrides: {},
      tags: { source: 'custody-dashboard' },
      webhookUrlOverride: null,
    });
    return reply.status(201).send({ token: created.token, connectLink: created.connectLink, expiresAt: created.expiresAt.toISOString() });
  });

  app.get('/api/v1/provider/:name', async (request) => {
    const { name } = parseRequestPart(z.object({ name: identifier }), request.params, 'invalid_uri_params');
    const template = context.providers.get(name);
    if (!template) throw new ApiError('unknown_provider_template', `"${name}" is not a provider of the catalog; check its spelling or add it with NANGO_PROVIDERS_FILE.`);
    return { provider: providerDetails(name, template, context) };
  });
}

const ConnectSessionBody = z.object({ integration: identifier, endUserId: identifier.optional() }).strict();

function providerDetails(name: string, template: ProviderTemplate, context: DashboardContext) {
  return {
    name,
    displayName: template.display_name,
    authMode: template.auth_mode,
    categories: template.categories ?? [],
    docs: template.docs ?? null,
    docsConnect: template.docs_connect ?? null,
    defaultScopes: template.default_scopes ?? [],
    scopeSeparator: template.scope_separator ?? ' ',
    connectionConfig: template.connection_config ?? {},
    credentials: template.credentials ?? {},
    connectionConfigParams: connectionConfigParams(template),
    hostFromConnection: hostFromConnection(template),
    logoUrl: logoUrl(context.config.serverUrl, name),
  };
}

/** The template's URLs take their host from the connection, so an integration may pin it. */
function hostFromConnection(template: ProviderTemplate): boolean {
  return templateUrls(template).some((url) => url.hostFromConnection);
}

/** The connection parameters a template needs: declared fields, and `${connectionConfig.x}` placeholders in its URLs. */
function connectionConfigParams(template: ProviderTemplate): string[] {
  const names = new Set(Object.keys(template.connection_config ?? {}));
  for (const url of templateUrls(template)) for (const name of connectionConfigNames(url.text)) names.add(name);
  return [...names];
}

/** OAuth integrations need the OAuth app's client; the others (API key, basic, none) have nothing to register. */
function needsClient(template: ProviderTemplate | undefined): boolean {
  return authModeFacts(template?.auth_mode)?.integrationClient === 'required';
}

function registerIntegrationRoutes(app: FastifyInstance, context: DashboardContext): void {
  const { integrations, providers, config } = context;

  app.get('/api/v1/integration', async () => {
    const [configs, counts] = await Promise.all([integrations.list(), context.store.connectionCounts()]);
    const newestFirst = [...configs].sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || b.id - a.id);
    return {
      integrations: newestFirst.map((integration) => {
        const template = providers.get(integration.provider);
        return {
          uniqueKey: integration.unique_key,
          provider: integration.provider,
          connectionCount: counts.get(integration.unique_key) ?? 0,
          creationDate: integration.created_at,
          ...(template ? { connectionConfigParams: connectionConfigParams(template) } : {}),
          displayName: integration.display_name ?? template?.display_name ?? integration.provider,
          authMode: template?.auth_mode ?? null,
          logoUrl: logoUrl(config.serverUrl, integration.provider),
        };
      }),
    };
  });

  app.get('/api/v1/integration/:providerConfigKey', async (request) => {
    const { providerConfigKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    const integration = await integrations.get(providerConfigKey);
    const template = providers.get(integration.provider);
    const counts = await context.store.connectionCounts();
    audit(request, 'integration.credentials_read', { providerConfigKey });
    return {
      integration: {
        uniqueKey: integration.unique_key,
        provider: integration.provider,
        clientId: integration.oauth_client_id,
        clientSecret: integrations.readable(integration).oauth_client_secret,
        appLink: integration.app_link ?? null,
        scopes: integration.oauth_scopes,
        displayName: integration.display_name ?? template?.display_name ?? integration.provider,
        authMode: template?.auth_mode ?? null,
        creationDate: integration.created_at,
        updatedAt: integration.updated_at,
        connectionCount: counts.get(integration.unique_key) ?? 0,
        callbackUrl: config.callbackUrl,
        docs: template?.docs ?? null,
        logoUrl: logoUrl(config.serverUrl, integration.provider),
        ...(template ? { connectionConfigParams: connectionConfigParams(template), hostFromConnection: hostFromConnection(template) } : {}),
        pinnedHost: integration.pinned_host ?? null,
      },
    };
  });

  app.post('/api/v1/integration', async (request, reply) => {
    const input = parseIntegrationBody(request.body, context);
    await integrations.create(input);
    audit(request, 'integration.create', { providerConfigKey: input.uniqueKey, details: { provider: input.provider } });
    return reply.send();
  });

  app.put('/api/v1/integration', async (request, reply) => {
    const input = parseIntegrationBody(request.body, context, 'update');
    // A private key is never shown, so the edit form sends none unless it replaces it: keep the stored one.
    const clientSecret = input.clientSecret ?? (input.keepsPrivateKey ? (await integrations.get(input.uniqueKey)).oauth_client_secret : null);
    await integrations.update({ ...input, clientSecret });
    audit(request, 'integration.update', { providerConfigKey: input.uniqueKey });
    return reply.send();
  });

  app.delete('/api/v1/integration/:providerConfigKey', async (request, reply) => {
    const { providerConfigKey } = parseRequestPart(KeyParams, request.params, 'invalid_uri_params');
    await integrations.delete(providerConfigKey);
    audit(request, 'integration.delete', { providerConfigKey });
    return reply.send();
  });
}

const KeyParams = z.object({ providerConfigKey: identifier });

const optionalText = z.string().trim().max(4000).optional();
const IntegrationBody = z
  .object({
    provider_config_key: identifier,
    provider: z.string().trim().min(1).max(255),
    client_id: optionalText,
    client_secret: optionalText,
    scopes: z.union([z.string().max(4000), z.array(z.string().max(255)).max(200)]).optional(),
    /** Empty clears the pin; absent leaves it as it is. */
    pinned_host: z.string().trim().max(300).optional(),
    /** A GitHub App's public link or slug. */
    app_link: z.string().trim().max(300).optional(),
  })
  .strict();

/**
 * Checked in Nango's order with its codes (the dashboard reused the `/config` ones), except that API-key,
 * basic and no-auth providers need no client id and secret, and scopes may be empty.
 */
function parseIntegrationBody(body: unknown, context: DashboardContext, purpose: 'create' | 'update' = 'create') {
  if (!isJsonObject(body)) throw new ApiError('missing_body', 'The request body must be a JSON object.');
  const missing = (field: string, code: ErrorCode, what: string) => {
    const value = body[field];
    if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) throw new ApiError(code, `${what} is required (field "${field}").`);
  };
  missing('provider_config_key', 'missing_provider_config', 'The integration key');
  missing('provider', 'missing_provider_template', 'The provider');
  const provider = typeof body['provider'] === 'string' ? body['provider'].trim() : '';
  context.integrations.assertKnownProvider(provider);
  const template = context.providers.get(provider);
  const fields = authModeFacts(template?.auth_mode)?.integrationFields;
  const keepsPrivateKey = purpose === 'update' && fields?.secretIsPrivateKey === true;
  if (needsClient(template)) {
    const app = fields?.secretIsPrivateKey ? `${template?.display_name ?? provider}` : `${template?.display_name ?? provider} OAuth app`;
    missing('client_id', 'missing_client_id', `The ${fields?.secretIsPrivateKey ? fields.clientId : 'client ID'} of your ${app}`);
    if (!keepsPrivateKey) missing('client_secret', 'missing_client_secret', `The ${fields?.secretIsPrivateKey ? 'private key' : 'client secret'} of your ${app}`);
  }
  if (fields?.appLink) missing('app_link', 'invalid_body', `The public link of your ${template?.display_name ?? provider}`);
  const parsed = parseRequestPart(IntegrationBody, body, 'invalid_body');
  return {
    uniqueKey: parsed.provider_config_key,
    provider: parsed.provider,
    clientId: parsed.client_id || null,
    clientSecret: parsed.client_secret || null,
    scopes: parsed.scopes ?? '',
    ...(parsed.pinned_host !== undefined ? { pinnedHost: parsed.pinned_host || null } : {}),
    ...(parsed.app_link !== undefined ? { appLink: parsed.app_link || null } : {}),
    keepsPrivateKey,
  };
}
