import { ApiError } from '../errors.js';
import type { ConfigsStore } from '../store/configs-store.js';
import type { ConnectSession, ConnectSessionsStore, IntegrationConfigDefaults } from '../store/connect-sessions-store.js';
import type { ConnectionsStore, EndUser } from '../store/connections-store.js';

/** Connect sessions live 30 minutes, as in modern Nango. */
export const CONNECT_SESSION_LIFETIME_MS = 30 * 60 * 1000;

export interface ConnectSessionRequest {
  endUser: EndUser | null;
  organization: { id: string; display_name?: string | null } | null;
  allowedIntegrations: string[] | null;
  integrationsConfigDefaults: Record<string, IntegrationConfigDefaults>;
  overrides: Record<string, { docs_connect?: string }>;
  tags: Record<string, string>;
  webhookUrlOverride: string | null;
  reconnect?: { connectionId: string; integration: string };
}

export interface CreatedConnectSession {
  token: string;
  connectLink: string;
  expiresAt: Date;
}

/** Short-lived tokens an operator's backend hands to its frontend, so the secret key never reaches a browser. */
export class ConnectSessionService {
  constructor(
    private readonly sessions: ConnectSessionsStore,
    private readonly configs: ConfigsStore,
    private readonly connections: ConnectionsStore,
    private readonly publicConnectUrl: string,
    private readonly now: () => Date,
  ) {}

  async create(request: ConnectSessionRequest): Promise<CreatedConnectSession> {
    const named = [...(request.allowedIntegrations ?? []), ...Object.keys(request.integrationsConfigDefaults), ...(request.reconnect ? [request.reconnect.integration] : [])];
    const unknown: string[] = [];
    for (const key of new Set(named)) if (!(await this.configs.find(key))) unknown.push(key);
    if (unknown.length > 0) {
      throw new ApiError('invalid_body', `Unknown integration${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`, {
        errors: unknown.map((key) => ({ code: 'custom', message: `Integration "${key}" does not exist`, path: ['allowed_integrations'] })),
      });
    }
    if (request.reconnect && !(await this.connections.find(request.reconnect.integration, request.reconnect.connectionId))) {
      throw new ApiError('invalid_body', `No connection "${request.reconnect.connectionId}" exists for the integration "${request.reconnect.integration}".`, {
        errors: [{ code: 'custom', message: 'Connection does not exist', path: ['connection_id'] }],
      });
    }
    const expiresAt = new Date(this.now().getTime() + CONNECT_SESSION_LIFETIME_MS);
    const { token } = await this.sessions.create({
      endUser: request.endUser,
      organization: request.organization,
      allowedIntegrations: request.reconnect ? [request.reconnect.integration] : request.allowedIntegrations,
      integrationsConfigDefaults: request.integrationsConfigDefaults,
      overrides: request.overrides,
      tags: request.tags,
      webhookUrlOverride: request.webhookUrlOverride,
      reconnect: request.reconnect ?? null,
      expiresAt,
    });
    const link = new URL(this.publicConnectUrl.endsWith('/') ? this.publicConnectUrl : `${this.publicConnectUrl}/`);
    link.searchParams.set('session_token', token);
    return { token, connectLink: link.toString(), expiresAt };
  }

  async delete(session: ConnectSession): Promise<void> {
    await this.sessions.delete(session.id);
  }
}
