import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import { READS_QUERY } from '../../plugins/query-guard.js';

/**
 * Nango's sync, action, records and functions product is not part of this server. Its routes answer 501
 * with a body that says so, instead of a 404 that looks like a typo in the client.
 */
const NOT_SUPPORTED: [string, string[]][] = [
  ['/records', ['GET']],
  ['/records/*', ['GET', 'PATCH']],
  ['/sync/*', ['GET', 'POST', 'PUT', 'DELETE']],
  ['/action/*', ['GET', 'POST']],
  ['/scripts/config', ['GET']],
  ['/environment-variables', ['GET']],
  ['/integrations/:uniqueKey/functions', ['GET']],
  ['/integrations/:uniqueKey/functions/*', ['GET', 'DELETE']],
  ['/integrations/quickstart', ['POST']],
  ['/providers/:provider/templates', ['GET']],
  ['/flow/*', ['GET', 'POST']],
];

export function registerNotSupportedRoutes(app: FastifyInstance, guard: (request: import('fastify').FastifyRequest) => Promise<void>): void {
  for (const [url, methods] of NOT_SUPPORTED) {
    app.route({
      method: methods as ('GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE')[],
      url,
      onRequest: guard,
      // Whatever the query, the answer is the same 501.
      ...READS_QUERY,
      handler: async (request) => {
        throw new ApiError(
          'not_supported',
          `${request.method} ${request.routeOptions.url ?? url} belongs to Nango's syncs, actions and functions, which this server does not implement; it covers auth, connections, integrations and the proxy.`,
        );
      },
    });
  }
}
