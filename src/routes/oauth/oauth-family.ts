import type { FastifyInstance } from 'fastify';
import type { Container } from '../../app/container.js';
import { adoptFamily, OAUTH_FAMILY } from '../route-families.js';
import { registerOAuthRoutes } from './oauth-routes.js';

/**
 * The popup flow: `/oauth/connect/:key` and `/oauth/callback` answer HTML pages to the person in the popup, and
 * the popup's opener waits on a WebSocket (any path) for the result. Public: the popup runs in the end user's
 * browser, so a connect session token or an HMAC guards the start (checked by the flow service).
 */
export async function registerOAuthFamily(app: FastifyInstance, container: Container): Promise<void> {
  container.delivery.attach(app.server);
  // Before the server waits for its connections to end: popup sockets are among them.
  app.addHook('preClose', async () => container.delivery.closeForRestart());
  await app.register(async (oauth) => {
    adoptFamily(oauth, OAUTH_FAMILY);
    registerOAuthRoutes(oauth, container.services.flows);
  });
}
