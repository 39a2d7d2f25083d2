import type { FastifyInstance } from 'fastify';
import type { Container } from '../../app/container.js';
import { dashboardGuard } from '../../plugins/dashboard-auth.js';
import { sameOriginMutationGuard } from '../../plugins/same-origin-mutations.js';
import { adoptFamily, DASHBOARD_FAMILY } from '../route-families.js';
import { registerDashboardAuditLogRoutes } from './dashboard-audit-log-routes.js';
import { registerDashboardConnectionRoutes } from './dashboard-connection-routes.js';
import type { DashboardContext } from './dashboard-context.js';
import { registerDashboardRoutes, registerProviderListRoute } from './dashboard-routes.js';

/**
 * The operator dashboard's API, `/api/v1/*`: Nango v0.16's dashboard routes with their camelCase bodies
 * (§1.9), plus what the pages need (connection details with refresh state, a connect session for "Try it",
 * settings, the audit log). Behind dashboard HTTP Basic (NANGO_DASHBOARD_USERNAME/PASSWORD, else the secret key)
 * except the provider list, and open only on a server without a secret key; changes are accepted from this
 * origin only. Errors are the seed body `{error, type, payload}`; no CORS.
 */
export async function registerDashboardFamily(app: FastifyInstance, container: Container): Promise<void> {
  const { config, providers, services, stores, now, clock } = container;
  const context: DashboardContext = {
    config,
    providers,
    integrations: services.integrations,
    connections: services.connections,
    connectSessions: services.connectSessions,
    auditLog: stores.auditLog,
    store: stores.dashboard,
    now,
    clock,
  };
  await app.register(async (open) => {
    adoptFamily(open, DASHBOARD_FAMILY);
    registerProviderListRoute(open, context);
  });
  await app.register(async (dashboard) => {
    adoptFamily(dashboard, DASHBOARD_FAMILY);
    dashboard.addHook('onRequest', sameOriginMutationGuard(config.serverUrl));
    dashboard.addHook('onRequest', dashboardGuard(config));
    registerDashboardRoutes(dashboard, context);
    registerDashboardConnectionRoutes(dashboard, context);
    registerDashboardAuditLogRoutes(dashboard, context);
  });
}
