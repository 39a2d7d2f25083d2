import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { ServerSignals } from '../services/server-signals.js';

/**
 * Prometheus metrics of one app: requests and their errors by route template (never by raw URL, which would
 * carry connection ids), OAuth flows, token refreshes. Each app has its own registry, so tests can build many.
 */
export class ServerMetrics implements Partial<ServerSignals> {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'custody_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  private readonly errors = new Counter({ name: 'custody_http_errors_total', help: 'HTTP requests answered with a 4xx or 5xx status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 'custody_http_request_duration_seconds',
    help: 'Time to answer HTTP requests',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly flowsStarted = new Counter({ name: 'custody_oauth_flows_started_total', help: 'OAuth popup flows started', labelNames: ['provider'], registers: [this.registry] });
  private readonly flowsFinished = new Counter({ name: 'custody_oauth_flows_finished_total', help: 'OAuth popup flows finished', labelNames: ['provider', 'result'], registers: [this.registry] });
  private readonly refreshes = new Counter({ name: 'custody_token_refreshes_total', help: 'Token refreshes, by result', labelNames: ['provider', 'result'], registers: [this.registry] });
  private readonly connections = new Counter({ name: 'custody_connections_authorized_total', help: 'Connections created or re-authorised', labelNames: ['provider', 'auth_mode', 'operation'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'custody_' });
  }

  observeRequest(request: FastifyRequest, status: number, seconds: number): void {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status: String(status) };
    this.requests.inc(labels);
    if (status >= 400) this.errors.inc(labels);
    this.duration.observe({ method: request.method, route }, seconds);
  }

  oauthFlowStarted(provider: string): void {
    this.flowsStarted.inc({ provider });
  }

  oauthFlowFinished(provider: string, success: boolean): void {
    this.flowsFinished.inc({ provider, result: success ? 'success' : 'failure' });
  }

  authSucceeded(outcome: Parameters<ServerSignals['authSucceeded']>[0]): void {
    if (outcome.operation === 'refresh') this.refreshes.inc({ provider: outcome.provider, result: 'success' });
    else this.connections.inc({ provider: outcome.provider, auth_mode: outcome.authMode, operation: outcome.operation });
  }

  authFailed(outcome: Parameters<ServerSignals['authFailed']>[0]): void {
    if (outcome.operation === 'refresh') this.refreshes.inc({ provider: outcome.provider, result: 'failure' });
  }
}

/** Counts and times every request the app answers (served at `GET /metrics` by the operations family). */
export function observeRequests(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
