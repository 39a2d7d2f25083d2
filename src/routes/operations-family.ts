import type { FastifyInstance } from 'fastify';
import type { Container } from '../app/container.js';
import { secretKeyGuard } from '../plugins/secret-key-auth.js';
import { READS_QUERY } from '../plugins/query-guard.js';
import { registerApiDocsRoutes } from './api-docs-routes.js';
import { registerHealthRoutes } from './health-routes.js';
import { LogoRenderer } from './logo.js';
import { adoptFamily, OPERATIONS_FAMILY } from './route-families.js';

/**
 * What load balancers, monitoring and pages fetch: the liveness and readiness probes (public), Prometheus
 * metrics (the secret key, when one is set), the providers' logos (public, cached for a day), and the API's
 * description with its reference page (behind the dashboard's sign-in).
 */
export async function registerOperationsFamily(app: FastifyInstance, container: Container): Promise<void> {
  const logos = new LogoRenderer(container.providers);
  await app.register(async (operations) => {
    adoptFamily(operations, OPERATIONS_FAMILY);
    registerHealthRoutes(operations, container.probe, container.lifecycle);
    registerApiDocsRoutes(operations, container.config);
    operations.get('/metrics', { onRequest: secretKeyGuard(container.config.secretKey) }, async (_request, reply) => {
      const registry = container.metrics.registry;
      return reply.header('content-type', registry.contentType).send(await registry.metrics());
    });
    // A cache-busting `?v=` must not fail: the logos ignore their query.
    operations.get('/logos/:file', READS_QUERY, async (request, reply) => {
      const { file } = request.params as { file: string };
      return reply.header('content-type', 'image/svg+xml').header('cache-control', 'public, max-age=86400').send(logos.render(file.replace(/\.svg$/, '')));
    });
  });
}
