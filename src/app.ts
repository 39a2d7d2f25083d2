import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import type pg from 'pg';
import secureJsonParse from 'secure-json-parse';
import type { Config } from './config.js';
import type { Cipher } from './crypto/aes-gcm.js';
import { ApiError } from './errors.js';
import { redactUrl, shortPath, type Logger } from './logger.js';
import { principalGuard } from './plugins/api-principal.js';
import { registerAuditTrail } from './plugins/audit-trail.js';
import { renderErrorForPath, renderModernError, renderSeedError, unstorableJson } from './plugins/error-rendering.js';
import { READS_QUERY, refuseUnreadQueries } from './plugins/query-guard.js';
import { secretKeyGuard } from './plugins/secret-key-auth.js';
import type { ProviderCatalog } from './providers/provider-catalog.js';
import { NotificationListener } from './db/notification-listener.js';
import { ConnectionHosts } from './net/connection-hosts.js';
import { OutboundHostGuard, type HostResolver } from './net/outbound-host-guard.js';
import { ResultDelivery } from './oauth/result-delivery.js';
import { SocketAdmission } from './oauth/socket-admission.js';
import { registerAuditLogRoutes } from './routes/modern/audit-log-routes.js';
import { registerConnectSessionRoutes } from './routes/modern/connect-session-routes.js';
import { registerConnectionRoutes } from './routes/modern/connection-routes.js';
import { registerCredentialAuthRoutes } from './routes/modern/credential-auth-routes.js';
import { registerIntegrationRoutes, type ModernRouteContext } from './routes/modern/integration-routes.js';
import { registerNotSupportedRoutes } from './routes/modern/not-supported-routes.js';
import { registerProviderRoutes } from './routes/modern/provider-routes.js';
import { registerOAuthRoutes } from './routes/oauth/oauth-routes.js';
import { LogoRenderer } from './routes/logo.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { DatabaseProbe } from './db/database-probe.js';
import { registerProxyRoutes } from './routes/proxy/proxy-routes.js';
import { registerDashboardRoutes } from './routes/dashboard/dashboard-routes.js';
import { registerStaticWeb } from './routes/static-web.js';
import { registerCors } from './plugins/cors.js';
import { registerAuthFailureLimit } from './plugins/auth-failure-limit.js';
import { trustProxyOption } from './plugins/trust-proxy.js';
import { registerSeedConfigRoutes } from './routes/seed/config-routes.js';
import { registerSeedConnectionRoutes } from './routes/seed/connection-routes.js';
import { ConnectionService } from './services/connection-service.js';
import { IntegrationService } from './services/integration-service.js';
import { ConnectAuthorizer } from './services/connect-authorizer.js';
import { ConnectSessionService } from './services/connect-session-service.js';
import { CredentialConnectService } from './services/credential-connect-service.js';
import { OAuthFlowService } from './services/oauth-flow-service.js';
import { fanOut, type ServerSignals } from './services/server-signals.js';
import { registerMetrics, ServerMetrics } from './custody/metrics.js';
import { TokenRefresher } from './services/token-refresher.js';
import { AccountsStore } from './store/accounts-store.js';
import { AuditLogStore } from './store/audit-log-store.js';
import { ConfigsStore } from './store/configs-store.js';
import { ConnectSessionsStore } from './store/connect-sessions-store.js';
import { ConnectionCache } from './store/connection-cache.js';
import { ConnectionsStore, type SealedConnection } from './store/connections-store.js';
import { OAuthSessionsStore } from './store/oauth-sessions-store.js';
import { authWebhookSignals } from './webhooks/auth-webhook-signals.js';
import { WebhookSender } from './webhooks/webhook-sender.js';

export interface AppDeps {
  config: Config;
  knex: Knex;
  cipher: Cipher | undefined;
  providers: ProviderCatalog;
  logger: Logger;
  /** Connection settings for a LISTEN client of its own, so OAuth results reach the process holding the popup's WebSocket. */
  databaseConnection?: pg.ClientConfig;
  /** How long a provider's token endpoint may take before the flow or refresh fails (default 15 s). */
  providerTimeoutMs?: number;
  now?: () => Date;
  /** More listeners for what services announce (telemetry); metrics and auth webhooks the app wires itself. */
  signals?: Partial<ServerSignals>;
  /** What host names of connections resolve to (default: the operating system's resolver); tests decide it here. */
  hostResolver?: HostResolver;
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The process's LISTEN connection. Specs that change rows behind the server's back (plain SQL) call its
     * `sync()` before reading through the server, as another process would wait for the notification.
     */
    databaseNotifications: NotificationListener;
  }
}

/** Largest request body accepted (JSON); larger bodies get a 413 before they are buffered whole. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds the whole HTTP app; no I/O happens here, so tests build as many apps as they like. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one the route modules use.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below with secrets blanked from the URL.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind nginx or a load balancer, the client address (rate limiting, logs) comes from X-Forwarded-For.
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // Connection ids are client-chosen and may be long; keep the router's limit above our 255-character ids.
    routerOptions: { maxParamLength: 1000 },
    // A malformed or oversized URL is answered in the API's own error shape, not Fastify's.
    frameworkErrors: (error, request, reply) => {
      const apiError = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new ApiError('invalid_uri_params', 'A path segment of the URL is longer than this server accepts.')
        : new ApiError('invalid_uri_params', 'The URL is not valid (malformed percent-encoding?).');
      void renderErrorForPath(apiError, request, reply);
    },
  });

  // Before any route: a route takes the error handler in place when it is registered, so the root routes
  // (/metrics, /health, /logos, /oauth/*) would otherwise answer errors in Fastify's own shape.
  app.setErrorHandler(renderSeedError);
  // Before any route too: every route after this refuses query parameters it does not read.
  refuseUnreadQueries(app);

  // Only JSON bodies: text and form bodies are refused with 415 instead of being half-understood.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    // Clients (axios among them) send a JSON content type on DELETEs and GETs without a body: that is no body, not an error.
    if (typeof body !== 'string' || body.trim() === '') return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = secureJsonParse.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (error) {
      const forbidden = /prototype property/i.test((error as Error).message);
      return done(
        forbidden ? new ApiError('invalid_body', 'The request body has a "__proto__" or "constructor" key, which this server refuses.') : new ApiError('invalid_json', 'The request body is not valid JSON.'),
        undefined,
      );
    }
    const problem = unstorableJson(parsed);
    if (problem) return done(new ApiError('invalid_body', problem), undefined);
    done(null, parsed);
  });

  registerCors(app);
  registerAuthFailureLimit(app, deps.config.authFailureLimit, { secretKey: deps.config.secretKey });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: redactUrl(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request completed',
    );
  });

  const providerTimeoutMs = deps.providerTimeoutMs ?? 15_000;
  const metrics = new ServerMetrics();
  // One LISTEN connection for the process: OAuth results from other processes, and changes to connections.
  const notifications = new NotificationListener(deps.databaseConnection, deps.logger);
  app.decorate('databaseNotifications', notifications);
  const connectionCache = new ConnectionCache<SealedConnection>(deps.config.connectionCacheSize);
  connectionCache.follow(notifications);
  const configs = new ConfigsStore(deps.knex, deps.cipher, connectionCache);
  const connectionsStore = new ConnectionsStore(deps.knex, deps.cipher, connectionCache);
  // Auth webhooks are wired here rather than in server.ts, so every app a test builds sends them as the server does.
  const webhooks = new WebhookSender({ url: deps.config.webhook.url, signingKey: deps.config.webhook.signingKey, logger: deps.logger });
  const webhookSignals = authWebhookSignals(webhooks, (providerConfigKey, connectionId) => connectionsStore.webhookUrlOverride(providerConfigKey, connectionId));
  const signals = fanOut([metrics, webhookSignals, ...(deps.signals ? [deps.signals] : [])]);
  registerMetrics(app, metrics, secretKeyGuard(deps.config.secretKey));

  // Every call to a host a connection chose goes through this guard (NANGO_CONNECTION_HOSTS_ALLOWED).
  const hosts = new ConnectionHosts(new OutboundHostGuard(deps.config.connectionHostsAllowed, deps.hostResolver, deps.logger), deps.logger);
  if (deps.config.connectionHostsAllowed.entries.length > 0) {
    deps.logger.info({ hosts: deps.config.connectionHostsAllowed.entries }, 'Connections may use these non-public hosts (NANGO_CONNECTION_HOSTS_ALLOWED).');
  }
  const sessions = new OAuthSessionsStore(deps.knex, deps.cipher);
  const integrations = new IntegrationService(configs, deps.providers, signals);
  const auditLog = new AuditLogStore(deps.knex);
  registerAuditTrail(app, auditLog, deps.config.secretKey !== undefined);
  let pruneTimer: NodeJS.Timeout | undefined;
  const pruneAuditLog = async (): Promise<void> => {
    const cutoff = new Date((deps.now?.() ?? new Date()).getTime() - deps.config.auditRetentionDays * 24 * 60 * 60 * 1000);
    await auditLog.deleteOlderThan(cutoff);
  };
  const refresher = new TokenRefresher({
    knex: deps.knex,
    audit: auditLog,
    signals,
    connections: connectionsStore,
    providers: deps.providers,
    hosts,
    log: deps.logger,
    callbackUrl: deps.config.callbackUrl,
    providerTimeoutMs,
    databaseTimeouts: deps.config.databaseTimeouts,
    ...(deps.now ? { now: deps.now } : {}),
  });
  const connections = new ConnectionService({ knex: deps.knex, connections: connectionsStore, configs, audit: auditLog, signals, refresher });
  const connectSessions = new ConnectSessionsStore(deps.knex);
  const authorizer = new ConnectAuthorizer(deps.config, connectSessions, new AccountsStore(deps.knex), deps.now ?? (() => new Date()));
  const delivery = new ResultDelivery(deps.knex, notifications, deps.logger, new SocketAdmission(deps.config));
  delivery.attach(app.server);
  app.addHook('onReady', async () => {
    notifications.start();
    await sessions.deleteExpired(deps.now?.() ?? new Date());
    await connectSessions.deleteExpired(deps.now?.() ?? new Date());
    await pruneAuditLog();
    pruneTimer = setInterval(() => void pruneAuditLog().catch((error: unknown) => deps.logger.warn({ err: error }, 'Pruning the audit log failed.')), 6 * 60 * 60 * 1000);
    pruneTimer.unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(pruneTimer);
    delivery.close();
    await notifications.close();
    // The proxy's audit entries still gathering go in before the database is closed.
    await auditLog.flush();
    // close, not drain: a dead receiver must not hold the shutdown for the whole retry schedule.
    await webhooks.close();
    hosts.close();
  });
  const flows = new OAuthFlowService({
    config: deps.config,
    providers: deps.providers,
    configs,
    connections,
    sessions,
    authorizer,
    delivery,
    signals,
    hosts,
    log: deps.logger,
    providerTimeoutMs,
    ...(deps.now ? { now: deps.now } : {}),
  });

  const now = deps.now ?? (() => new Date());
  const sessionService = new ConnectSessionService(connectSessions, configs, connectionsStore, deps.config.publicConnectUrl, now);
  const credentialConnect = new CredentialConnectService({
    providers: deps.providers,
    configs,
    connections,
    authorizer,
    hosts,
    log: deps.logger,
    callbackUrl: deps.config.callbackUrl,
    providerTimeoutMs,
    now,
  });

  registerHealthRoutes(app, new DatabaseProbe(deps.databaseConnection ? { connection: deps.databaseConnection } : { knex: deps.knex }));
  // A cache-busting `?v=` must not fail: the logos ignore their query.
  const logos = new LogoRenderer(deps.providers);
  app.get('/logos/:file', READS_QUERY, async (request, reply) => {
    const { file } = request.params as { file: string };
    return reply.header('content-type', 'image/svg+xml').header('cache-control', 'public, max-age=86400').send(logos.render(file.replace(/\.svg$/, '')));
  });
  registerOAuthRoutes(app, flows);

  // Modern API: Bearer secret key or connect session token, `{error: {code, message}}` errors.
  app.decorateRequest('principal', null);
  await app.register(async (modern) => {
    modern.setErrorHandler(renderModernError);
    const principals = { secretKey: deps.config.secretKey, sessions: connectSessions, now };
    const context: ModernRouteContext = {
      serverUrl: deps.config.serverUrl,
      providers: deps.providers,
      secretKeyOnly: principalGuard(principals, ['secret_key']),
      secretKeyOrSession: principalGuard(principals, ['secret_key', 'connect_session']),
    };
    registerIntegrationRoutes(modern, integrations, context);
    registerProviderRoutes(modern, context);
    registerConnectionRoutes(modern, connections, context);
    registerConnectSessionRoutes(modern, sessionService, { secretKeyOnly: context.secretKeyOnly, sessionOnly: principalGuard(principals, ['connect_session']) });
    registerCredentialAuthRoutes(modern, credentialConnect);
    registerAuditLogRoutes(modern, auditLog, context);
    registerNotSupportedRoutes(modern, context.secretKeyOnly);
  });

  // Seed-era API: secret key (Basic or Bearer) and `{error, type, payload}` errors. `/connection` and
  // `/connection/:id` stay the seed handlers although modern Nango aliases them to `/connections`: seed clients need the seed shape.
  await app.register(async (seed) => {
    seed.setErrorHandler(renderSeedError);
    seed.addHook('onRequest', secretKeyGuard(deps.config.secretKey));
    registerSeedConfigRoutes(seed, integrations);
    registerSeedConnectionRoutes(seed, connections);
  });

  // Operator dashboard API (/api/v1/*, dashboard HTTP Basic) and the web UI (dashboard at /, Connect UI at NANGO_PUBLIC_CONNECT_URL's path).
  await registerDashboardRoutes(app, { config: deps.config, knex: deps.knex, cipher: deps.cipher, providers: deps.providers, integrations, connections, connectSessions: sessionService, auditLog, now });
  await registerStaticWeb(app, { config: deps.config });

  // The proxy: both SDK generations call it; errors come back in the caller's shape.
  await registerProxyRoutes(app, {
    connections,
    providers: deps.providers,
    hosts,
    secretKey: deps.config.secretKey,
    allowedBaseUrlOverrideHosts: deps.config.proxy.allowedBaseUrlOverrideHosts,
    timeoutMs: deps.config.proxy.timeoutMs,
    logger: deps.logger,
  });

  app.setNotFoundHandler(async (request, reply) => {
    await renderSeedError(new ApiError('not_found', `No route ${request.method} ${shortPath(request.url)}.`), request, reply);
  });
  return app;
}
