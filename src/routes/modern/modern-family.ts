import type { FastifyInstance } from 'fastify';
import type { Container } from '../../app/container.js';
import { principalGuard } from '../../plugins/api-principal.js';
import { adoptFamily, MODERN_FAMILY } from '../route-families.js';
import { registerAuditLogRoutes } from './audit-log-routes.js';
import { registerConnectSessionRoutes } from './connect-session-routes.js';
import { registerConnectionRoutes } from './connection-routes.js';
import { registerCredentialAuthRoutes } from './credential-auth-routes.js';
import { registerIntegrationRoutes, type ModernRouteContext } from './integration-routes.js';
import { registerNotSupportedRoutes } from './not-supported-routes.js';
import { registerProviderRoutes } from './provider-routes.js';

/**
 * The modern API (`@nangohq/node` 0.71 and the frontend SDK): `{error: {code, message}}` errors. Each route
 * names the callers it takes: the secret key (Bearer), a connect session token, or, for the routes the frontend
 * SDK posts credentials to, anyone holding a session token or an HMAC (checked by the service).
 */
export async function registerModernFamily(app: FastifyInstance, container: Container): Promise<void> {
  const { config, providers, services, stores, now } = container;
  await app.register(async (modern) => {
    adoptFamily(modern, MODERN_FAMILY);
    const principals = { secretKey: config.secretKey, sessions: stores.connectSessions, now };
    const context: ModernRouteContext = {
      serverUrl: config.serverUrl,
      providers,
      secretKeyOnly: principalGuard(principals, ['secret_key']),
      secretKeyOrSession: principalGuard(principals, ['secret_key', 'connect_session']),
    };
    registerIntegrationRoutes(modern, services.integrations, context);
    registerProviderRoutes(modern, context);
    registerConnectionRoutes(modern, services.connections, context);
    registerConnectSessionRoutes(modern, services.connectSessions, { secretKeyOnly: context.secretKeyOnly, sessionOnly: principalGuard(principals, ['connect_session']) });
    registerCredentialAuthRoutes(modern, services.credentialConnect);
    registerAuditLogRoutes(modern, stores.auditLog, context);
    registerNotSupportedRoutes(modern, context.secretKeyOnly);
  });
}
