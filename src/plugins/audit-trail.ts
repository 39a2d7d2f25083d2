import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditAction } from '../store/audit-actions.js';
import type { AuditEntry, AuditLogStore, LaterGroupOutcome } from '../store/audit-log-store.js';
import { principalName } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Entries a handler adds; written before the response leaves, only if the request succeeded. */
    auditEntries: (Omit<AuditEntry, 'route' | 'principal'> & { evenOnError: boolean; beforeAnswer: boolean })[] | null;
  }
  interface FastifyInstance {
    /** Whether a secret key protects the API: the trail names an unprotected caller "anonymous". */
    auditSecretKeyConfigured: boolean;
  }
}

/** Marks the request as touching credentials; the audit hook writes it with the route and the principal. */
export function audit(
  request: FastifyRequest,
  action: AuditAction,
  target: { providerConfigKey?: string | null; connectionId?: string | null; details?: Record<string, unknown> },
  options: {
    /** Record it even if the response is an error: the proxy has used the credentials whatever the upstream answered. */
    evenOnError?: boolean;
    /**
     * Hold the answer until the entry is committed (the default): a credential handed to the caller is never
     * without a trace. The proxy passes false: the caller never sees the credential, its use upstream has already
     * happened, and holding the upstream's answer back would only add a database round trip to every call. Such
     * entries are inserted together a moment later (AuditLogStore.recordLater), and at the latest when the app closes.
     */
    beforeAnswer?: boolean;
  } = {},
): void {
  (request.auditEntries ??= []).push({
    action,
    providerConfigKey: target.providerConfigKey ?? null,
    connectionId: target.connectionId ?? null,
    details: target.details ?? null,
    evenOnError: options.evenOnError ?? false,
    beforeAnswer: options.beforeAnswer ?? true,
  });
}

/**
 * The route and principal of a request as the trail names them, for an entry a service writes inside its own
 * transaction (a connection authorised: the connection and its entry commit together).
 */
export function auditActor(request: FastifyRequest): { route: string; principal: string } {
  return { route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`, principal: principalName(request.principal, request.server.auditSecretKeyConfigured) };
}

/**
 * Writes a request's audit entries before its response is sent, naming the principal the route family's guard
 * established; if the write fails the request fails, so a credential is never handed out without a trace.
 */
export function registerAuditTrail(app: FastifyInstance, store: AuditLogStore, secretKeyConfigured: boolean): void {
  app.decorateRequest('auditEntries', null);
  // One failure handler per group insert of entries written beside the answer, on the app's logger: a handler per
  // call would keep each proxied call's request alive until its group is committed (a tenth of a second later),
  // long enough for the garbage collector to copy every one of them into the old generation.
  let watchedGroup: Promise<LaterGroupOutcome> | undefined;
  const watchLaterGroup = (group: Promise<LaterGroupOutcome>): void => {
    if (group === watchedGroup) return;
    watchedGroup = group;
    void group.then((outcome) => {
      if (outcome.error !== undefined) app.log.error({ err: outcome.error, routes: outcome.routes }, `Could not write the audit trail of ${outcome.entries} proxied call(s).`);
    });
  };
  app.decorate('auditSecretKeyConfigured', secretKeyConfigured);
  // A callback hook: a request without entries, or with only entries written beside the answer (the proxy's), goes
  // on at once; only entries the answer waits for hold it until they are committed.
  app.addHook('onSend', (request, reply, payload, done) => {
    const pending = request.auditEntries;
    if (pending === null) return done(null, payload);
    request.auditEntries = null;
    const failed = reply.statusCode >= 400;
    let actor: { route: string; principal: string } | undefined;
    let now: AuditEntry[] | undefined;
    let later: AuditEntry[] | undefined;
    // One pass, no intermediate arrays: this runs on every credential read and proxied call.
    for (const entry of pending) {
      if (failed && !entry.evenOnError) continue;
      actor ??= auditActor(request);
      const { route, principal } = actor;
      const row: AuditEntry = { action: entry.action, route, principal, providerConfigKey: entry.providerConfigKey, connectionId: entry.connectionId, details: entry.details };
      if (entry.beforeAnswer) (now ??= []).push(row);
      else (later ??= []).push(row);
    }
    if (later) watchLaterGroup(store.recordLater(later));
    if (!now) return done(null, payload);
    store.record(now).then(() => done(null, payload), done);
  });
}
