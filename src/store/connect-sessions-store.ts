import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import type { EndUser } from './connections-store.js';

/** A connect session: what a frontend holding its token may do, for 30 minutes. Only the token's hash is stored. */
export interface ConnectSession {
  id: number;
  endUser: EndUser | null;
  organization: { id: string; display_name?: string | null } | null;
  allowedIntegrations: string[] | null;
  integrationsConfigDefaults: Record<string, IntegrationConfigDefaults>;
  overrides: Record<string, { docs_connect?: string }>;
  tags: Record<string, string>;
  webhookUrlOverride: string | null;
  reconnect: { connectionId: string; integration: string } | null;
  createdAt: Date;
  expiresAt: Date;
}

export interface IntegrationConfigDefaults {
  user_scopes?: string;
  authorization_params?: Record<string, string>;
  connection_config?: Record<string, unknown>;
}

interface SessionRow {
  id: number;
  token_hash: string;
  end_user: EndUser | null;
  organization: ConnectSession['organization'];
  allowed_integrations: string[] | null;
  integrations_config_defaults: Record<string, IntegrationConfigDefaults> | null;
  overrides: Record<string, { docs_connect?: string }> | null;
  tags: Record<string, string> | null;
  webhook_url_override: string | null;
  reconnect_connection_id: string | null;
  reconnect_integration: string | null;
  created_at: Date;
  expires_at: Date;
}

const TABLE = `${SCHEMA}._custody_connect_sessions`;
export const CONNECT_SESSION_TOKEN_PREFIX = 'nango_connect_session_';
export const CONNECT_SESSION_TOKEN_PATTERN = /^nango_connect_session_[0-9a-f]{64}$/;

export class ConnectSessionsStore {
  constructor(private readonly knex: Knex) {}

  /** Creates a session and returns its token: shown once, never stored in clear. */
  async create(session: Omit<ConnectSession, 'id' | 'createdAt'>): Promise<{ token: string; session: ConnectSession }> {
    const token = `${CONNECT_SESSION_TOKEN_PREFIX}${randomBytes(32).toString('hex')}`;
    const [row] = await this.knex<SessionRow>(TABLE)
      .insert({
        token_hash: hashToken(token),
        end_user: json(session.endUser),
        organization: json(session.organization),
        allowed_integrations: json(session.allowedIntegrations),
        integrations_config_defaults: json(session.integrationsConfigDefaults),
        overrides: json(session.overrides),
        tags: json(session.tags),
        webhook_url_override: session.webhookUrlOverride,
        reconnect_connection_id: session.reconnect?.connectionId ?? null,
        reconnect_integration: session.reconnect?.integration ?? null,
        expires_at: session.expiresAt,
      })
      .returning('*');
    if (!row) throw new Error('The connect session insert returned no row.');
    return { token, session: open(row) };
  }

  async findByToken(token: string): Promise<ConnectSession | undefined> {
    const row = await this.knex<SessionRow>(TABLE).where({ token_hash: hashToken(token) }).first();
    return row ? open(row) : undefined;
  }

  async delete(id: number): Promise<void> {
    await this.knex(TABLE).where({ id }).delete();
  }

  async deleteExpired(now: Date): Promise<number> {
    return this.knex(TABLE).where('expires_at', '<', now).delete();
  }
}

/** SHA-256 is enough: the token is 256 random bits, so there is nothing to brute-force. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** knex sends JS arrays as Postgres arrays; JSON columns need text. */
function json(value: unknown): never {
  return (value === null || value === undefined ? null : JSON.stringify(value)) as never;
}

function open(row: SessionRow): ConnectSession {
  return {
    id: row.id,
    endUser: row.end_user,
    organization: row.organization,
    allowedIntegrations: row.allowed_integrations,
    integrationsConfigDefaults: row.integrations_config_defaults ?? {},
    overrides: row.overrides ?? {},
    tags: row.tags ?? {},
    webhookUrlOverride: row.webhook_url_override,
    reconnect: row.reconnect_connection_id && row.reconnect_integration ? { connectionId: row.reconnect_connection_id, integration: row.reconnect_integration } : null,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
