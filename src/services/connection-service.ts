import { ApiError } from '../errors.js';
import type { ConfigRecord, ConfigsStore } from '../store/configs-store.js';
import type { ConnectionListFilter, ConnectionListItem, ConnectionRecord, ConnectionsStore, ConnectionSummary, EndUser } from '../store/connections-store.js';
import { unknownIntegration } from './integration-service.js';
import type { TokenRefresher } from './token-refresher.js';

export type ImportedCredentials =
  | { type: 'OAUTH2'; access_token: string; refresh_token?: string; expires_at?: string; raw: Record<string, unknown> }
  | { type: 'OAUTH1'; oauth_token: string; oauth_token_secret: string; raw: Record<string, unknown> }
  | { type: 'API_KEY'; apiKey: string }
  | { type: 'BASIC'; username: string; password: string }
  | { type: 'OAUTH2_CC'; token: string; expires_at?: string; client_id: string; client_secret: string; raw: Record<string, unknown> }
  | { type: 'NONE' };

export interface ConnectionImport {
  providerConfigKey: string;
  connectionId: string;
  credentials: ImportedCredentials;
  connectionConfig: Record<string, unknown>;
  metadata: Record<string, unknown>;
  endUser?: EndUser | null;
  tags?: Record<string, string>;
}

/** Connections: an end user's credentials for one integration. */
export class ConnectionService {
  constructor(
    private readonly connections: ConnectionsStore,
    private readonly configs: ConfigsStore,
    private readonly refresher: TokenRefresher,
  ) {}

  /** The connection with credentials that are good for at least the refresh margin (refreshed first if needed). */
  async get(providerConfigKey: string, connectionId: string, options: { forceRefresh?: boolean } = {}): Promise<ConnectionRecord> {
    return (await this.getWithIntegration(providerConfigKey, connectionId, options)).connection;
  }

  /** The fresh connection and the integration it belongs to (the modern shape names the provider). */
  async getWithIntegration(providerConfigKey: string, connectionId: string, options: { forceRefresh?: boolean } = {}): Promise<{ connection: ConnectionRecord; config: ConfigRecord }> {
    const found = await this.connections.findWithIntegration(providerConfigKey, connectionId);
    if (!found) throw unknownConnection(providerConfigKey, connectionId);
    const { connection, config } = found;
    if (!config) throw unknownIntegration(providerConfigKey);
    return { connection: await this.refresher.fresh(connection, config, options.forceRefresh ?? false), config };
  }

  listDetailed(filter: ConnectionListFilter): Promise<ConnectionListItem[]> {
    return this.connections.listDetailed(filter);
  }

  /** Replaces (`replace`) or shallow-merges (`merge`) metadata of one or several connections, all or nothing. */
  async writeMetadata(providerConfigKey: string, connectionIds: string[], metadata: Record<string, unknown>, mode: 'replace' | 'merge'): Promise<void> {
    const missing = await this.connections.writeMetadata(providerConfigKey, connectionIds, metadata, mode);
    if (missing.length > 0) throw unknownConnection(providerConfigKey, missing.join('", "'));
  }

  async patch(providerConfigKey: string, connectionId: string, changes: Parameters<ConnectionsStore['patch']>[2]): Promise<void> {
    if (!(await this.connections.patch(providerConfigKey, connectionId, changes))) throw unknownConnection(providerConfigKey, connectionId);
  }

  list(filter: { connectionId?: string }): Promise<ConnectionSummary[]> {
    return this.connections.list(filter);
  }

  async delete(providerConfigKey: string, connectionId: string): Promise<void> {
    if (!(await this.connections.delete(providerConfigKey, connectionId))) throw unknownConnection(providerConfigKey, connectionId);
  }

  /** Stores credentials obtained elsewhere (for example, migrated from another system). */
  async import(input: ConnectionImport): Promise<ConnectionRecord> {
    if (!(await this.configs.find(input.providerConfigKey))) throw unknownIntegration(input.providerConfigKey);
    return this.connections.upsert({
      provider_config_key: input.providerConfigKey,
      connection_id: input.connectionId,
      credentials: input.credentials,
      connection_config: input.connectionConfig,
      metadata: input.metadata,
      ...(input.endUser !== undefined ? { end_user: input.endUser } : {}),
      ...(input.tags !== undefined ? { tags: input.tags } : {}),
    });
  }
}

export function unknownConnection(providerConfigKey: string, connectionId: string): ApiError {
  return new ApiError('unkown_connection', `No connection "${connectionId}" exists for the integration "${providerConfigKey}".`);
}
