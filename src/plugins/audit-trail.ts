import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditAction, AuditEntry, AuditLogStore } from '../store/audit-log-store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Entries a handler adds; written before the response leaves, only if the request succeeded. */
    auditEntries: (Omit<AuditEntry, 'route' | 'principal'> & { evenOnError: boolean })[] | null;
  }
}

/** Marks the request as touching credentials; the audit hook writes it with the route and the principal. */
export function audit(
  request: FastifyRequest,
  action: AuditAction,
  target: { providerConfigKey?: string | null; connectionId?: string | null; details?: Record<string, unknown> },
  /** Record it even if the response is an error: the proxy has used the credentials whatever the upstream answered. */
  options: { evenOnError?: boolean } = {},
): void {
  (request.auditEntries ??= []).push({
    action,
    providerConfigKey: target.providerConfigKey ?? null,
    connectionId: target.connectionId ?? null,
    details: target.details ?? null,
    evenOnError: options.evenOnError ?? false,
  });
}

/** Who made the request, as the audit trail names it. */
export function principalName(request: FastifyRequest, secretKeyConfigured: boolean): string {
  const principal = request.principal;
  if (principal?.kind === 'connect_session') return `connect_session:${principal.session.id}`;
  if (principal?.kind === 'secret_key' || request.routeOptions.url?.startsWith('/config') || request.routeOptions.url?.startsWith('/connection') || request.routeOptions.url?.startsWith('/proxy')) {
    return secretKeyConfigured ? 'secret_key' : 'anonymous (no secret key configured)';
  }
  const dashboardUser = (request as FastifyRequest & { dashboardUser?: string }).dashboardUser;
  if (dashboardUser) return `dashboard:${dashboardUser}`;
  return 'anonymous';
}

/**
 * Writes a request's audit entries before its response is sent; if the write fails the request fails, so a
 * credential is never handed out without a trace.
 */
export function registerAuditTrail(app: FastifyInstance, store: AuditLogStore, secretKeyConfigured: boolean): void {
  app.decorateRequest('auditEntries', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const entries = (request.auditEntries ?? []).filter((entry) => entry.evenOnError || reply.statusCode < 400);
    request.auditEntries = null;
    if (entries.length === 0) return payload;
    const route = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;
    const principal = principalName(request, secretKeyConfigured);
    await store.record(entries.map(({ evenOnError: _evenOnError, ...entry }) => ({ ...entry, route, principal })));
    return payload;
  });
}
