import type { FastifyInstance } from 'fastify';
import type { DatabaseProbe } from '../db/database-probe.js';
import { PROBE_TIMEOUT_MS } from '../db/database-probe.js';
import { ApiError } from '../errors.js';
import { READS_QUERY } from '../plugins/query-guard.js';
import type { ServerLifecycle } from '../server-drain.js';

/**
 * Probes for load balancers and orchestrators, without authentication:
 * - `GET /health`, liveness: the process answers HTTP. Nothing else is checked, so a database outage never
 *   makes a supervisor restart a server that would only find the same database down.
 * - `GET /ready`, readiness: 200 while the database answers, 503 `database_unavailable` while it does not,
 *   within about PROBE_TIMEOUT_MS, and 503 `server_stopping` from the moment the process is told to stop (it
 *   still serves during NANGO_SHUTDOWN_GRACE_SECONDS). For taking a replica out of rotation, not for restarting it.
 * A probe's `?…` (a cache buster) is ignored.
 */
export function registerHealthRoutes(app: FastifyInstance, probe: DatabaseProbe, lifecycle?: ServerLifecycle): void {
  app.get('/health', READS_QUERY, async () => ({ result: 'ok' }));
  app.get('/ready', READS_QUERY, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    if (lifecycle?.stopping) throw new ApiError('server_stopping', 'Not ready: the server is stopping. It finishes the requests it accepted, then exits.');
    if (!(await probe.reachable())) {
      throw new ApiError('database_unavailable', `Not ready: the database did not answer within ${PROBE_TIMEOUT_MS / 1000} s.`);
    }
    return { result: 'ok', database: 'ok' };
  });
}
