import type { FastifyInstance } from 'fastify';
import type { Container } from '../../app/container.js';
import { secretKeyGuard } from '../../plugins/secret-key-auth.js';
import { adoptFamily, PROXY_FAMILY } from '../route-families.js';
import { registerProxyRoutes } from './proxy-routes.js';

/** The proxy, `ALL /proxy/*`: the secret key (Basic or Bearer), as both SDK generations send it; errors in the caller's shape. */
export async function registerProxyFamily(app: FastifyInstance, container: Container): Promise<void> {
  const { config } = container;
  await app.register(async (proxy) => {
    adoptFamily(proxy, PROXY_FAMILY);
    proxy.addHook('onRequest', secretKeyGuard(config.secretKey));
    registerProxyRoutes(proxy, {
      connections: container.services.connections,
      providers: container.providers,
      hosts: container.hosts,
      allowedBaseUrlOverrideHosts: config.proxy.allowedBaseUrlOverrideHosts,
      timeoutMs: config.proxy.timeoutMs,
      logger: container.logger,
    });
  });
}
