import type { ConnectSession } from '../store/connect-sessions-store.js';

/**
 * Who is calling, as the guard of the route's family established it: the operator's backend (the secret key,
 * or anyone while no key is configured), a frontend holding a connect session, or a person signed in to the
 * dashboard. Null on public routes (the popup flow, the Connect UI, probes).
 */
export type Principal = { kind: 'secret_key' } | { kind: 'connect_session'; session: ConnectSession; token: string } | { kind: 'dashboard_user'; user: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export const SECRET_KEY_PRINCIPAL: Principal = { kind: 'secret_key' };

/** Who the audit trail names. */
export function principalName(principal: Principal | null, secretKeyConfigured: boolean): string {
  switch (principal?.kind) {
    case 'connect_session':
      return `connect_session:${principal.session.id}`;
    case 'secret_key':
      return secretKeyConfigured ? 'secret_key' : 'anonymous (no secret key configured)';
    case 'dashboard_user':
      return `dashboard:${principal.user}`;
    default:
      return 'anonymous';
  }
}
