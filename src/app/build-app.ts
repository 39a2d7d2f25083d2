import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { observeRequests } from '../custody/metrics.js';
import type { NotificationListener } from '../db/notification-listener.js';
import { ApiError } from '../errors.js';
import { redactUrl, shortPath } from '../logger.js';
import { deferredRequestLogger } from './request-logger.js';
import { registerAuditTrail } from '../plugins/audit-trail.js';
import { registerAuthFailureLimit } from '../plugins/auth-failure-limit.js';
import { applyCorsPolicy } from '../plugins/cors.js';
import { seedErrors } from '../plugins/error-rendering.js';
import { recordRoutes } from '../openapi/route-list.js';
import { refuseUnreadQueries } from '../plugins/query-guard.js';
import { trustProxyOption } from '../plugins/trust-proxy.js';
import { registerDashboardFamily } from '../routes/dashboard/dashboard-family.js';
import { registerModernFamily } from '../routes/modern/modern-family.js';
import { registerOAuthFamily } from '../routes/oauth/oauth-family.js';
import { registerOperationsFamily } from '../routes/operations-family.js';
import { registerProxyFamily } from '../routes/proxy/proxy-family.js';
import { familyAtPath, familyOf } from '../routes/route-families.js';
import { registerSeedFamily } from '../routes/seed/seed-family.js';
import { registerStaticWeb } from '../routes/static-web.js';
import { BODY_LIMIT_BYTES, registerBodyParsers } from './body-parsers.js';
import { buildContainer, closeContainer, type AppDeps } from './container.js';
import { Housekeeping } from './housekeeping.js';
import { lazySchemaCompilers } from './schema-compilers.js';

export type { AppDeps } from './container.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The process's LISTEN connection. Specs that change rows behind the server's back (plain SQL) call its
     * `sync()` before reading through the server, as another process would wait for the notification.
     */
    databaseNotifications: NotificationListener;
  }
}

/** Builds the whole HTTP app; no I/O happens here, so tests build as many apps as they like. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const container = buildContainer(deps);
  const { config, logger } = container;
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the app's type the default one the route modules use.
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below with secrets blanked from the URL.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: deferredRequestLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind nginx or a load balancer, the client address (rate limiting, logs) comes from X-Forwarded-For.
    trustProxy: trustProxyOption(config.trustProxy),
    // Connection ids are client-chosen and may be long; keep the router's limit above our 255-character ids.
    routerOptions: { maxParamLength: 1000 },
    // ajv and fast-json-stringify only if a route ever declares a JSON Schema (ours parse with zod).
    schemaController: { compilersFactory: lazySchemaCompilers },
    // A malformed or oversized URL has no route yet: it is answered in the shape of the family mounted at its path.
    frameworkErrors: (error, request, reply) => {
      const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path segment of the URL is longer than this server accepts.' : 'The URL is not valid (malformed percent-encoding?).';
      void familyAtPath(request.url).errors.render(new ApiError('invalid_uri_params', message), request, reply);
    },
  });
  app.decorate('databaseNotifications', container.notifications);
  app.decorate('tokenKeeper', container.keeper);
  if (config.connectionHostsAllowed.entries.length > 0) {
    logger.info({ hosts: config.connectionHostsAllowed.entries }, 'Connections may use these non-public hosts (NANGO_CONNECTION_HOSTS_ALLOWED).');
  }

  // What every request goes through, whatever its family: the server's own error shape (for the hooks below),
  // the query guard, the JSON body parsers, the auth-failure limit, the audit trail, metrics and the request log.
  app.setErrorHandler(seedErrors.render);
  recordRoutes(app);
  refuseUnreadQueries(app);
  registerBodyParsers(app);
  registerAuthFailureLimit(app, config.authFailureLimit, { secretKey: config.secretKey, errorsFor: (request) => familyOf(request).errors });
  app.decorateRequest('principal', null);
  registerAuditTrail(app, container.stores.auditLog, config.secretKey !== undefined);
  observeRequests(app, container.metrics);
  app.addHook('onResponse', (request, reply, done) => {
    // Checked first: the line's fields (the URL with its secrets blanked) cost more to build than the line is worth unwritten.
    if (!logger.isLevelEnabled('info')) {
      done();
      return;
    }
    request.log.info({ method: request.method, url: redactUrl(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
    done();
  });

  // The route families, each a scope with its own error shape, CORS policy and guard.
  await registerOperationsFamily(app, container);
  await registerOAuthFamily(app, container);
  await registerModernFamily(app, container);
  await registerSeedFamily(app, container);
  await registerDashboardFamily(app, container);
  await registerStaticWeb(app, { config });
  await registerProxyFamily(app, container);

  // No route: the server's own 404, with the CORS policy of the family mounted at the path (a preflight is answered here).
  app.setNotFoundHandler(async (request, reply) => {
    if (await applyCorsPolicy(familyAtPath(request.url).cors, request, reply)) return reply;
    await seedErrors.render(new ApiError('not_found', `No route ${request.method} ${shortPath(request.url)}.`), request, reply);
  });

  const housekeeping = new Housekeeping(container);
  app.addHook('onReady', async () => {
    container.notifications.start();
    await housekeeping.start();
    container.keeper.start();
  });
  app.addHook('onClose', async () => {
    housekeeping.stop();
    // Before the container closes: a refresh under way still writes its row and audit entry.
    await container.keeper.stop();
    await closeContainer(container);
  });
  return app;
}
