import { credentialMode, isRenewable, modeOf } from '../../credentials/registry.js';
import { healthOf, listedHealth, type ConnectionHealth } from '../../keeper/connection-health.js';
import type { ProviderTemplate } from '../../providers/provider-schema.js';
import type { ConfigRecord } from '../../store/configs-store.js';
import type { ConnectionListItem, ConnectionRecord, EndUser } from '../../store/connections-store.js';

/** The modern API's shapes (Nango 0.71): snake_case, timestamps as ISO with "+00:00". */
export function modernTimestamp(date: Date | null | undefined): string | null {
  return date ? date.toISOString().replace('Z', '+00:00') : null;
}

export function logoUrl(serverUrl: string, provider: string): string {
  return `${serverUrl}/logos/${encodeURIComponent(provider)}.svg`;
}

export function integrationBody(config: ConfigRecord, template: ProviderTemplate | undefined, serverUrl: string, include: string[] = []) {
  return {
    unique_key: config.unique_key,
    provider: config.provider,
    display_name: config.display_name ?? template?.display_name ?? config.provider,
    logo: logoUrl(serverUrl, config.provider),
    forward_webhooks: config.forward_webhooks,
    pinned_host: config.pinned_host ?? null,
    created_at: modernTimestamp(config.created_at),
    updated_at: modernTimestamp(config.updated_at),
    ...(include.includes('webhook') ? { webhook_url: null } : {}),
    ...(include.includes('credentials') ? { credentials: credentialMode(template?.auth_mode)?.integrationCredentials(config) ?? null } : {}),
  };
}

export function providerBody(name: string, template: ProviderTemplate, serverUrl: string) {
  // Nango's provider type always has docs; an operator's entry may have none, and reads as an empty link.
  return { name, ...template, docs: template.docs ?? '', logo_url: logoUrl(serverUrl, name) };
}

export function endUserBody(endUser: EndUser | null) {
  if (!endUser) return null;
  return {
    id: endUser.id,
    display_name: endUser.display_name ?? null,
    email: endUser.email ?? null,
    tags: endUser.tags ?? {},
    organization: endUser.organization ? { id: endUser.organization.id, display_name: endUser.organization.display_name ?? null } : null,
  };
}

/** A connection's `errors` (Nango's ConnectionError list): an `auth` error while its refresh is failing. */
export function errorsOf(connection: { last_refresh_failure: Date | null; refresh_attempts: number }) {
  return connection.refresh_attempts > 0 && connection.last_refresh_failure ? [{ type: 'auth', log_id: '' }] : [];
}

/**
 * Nango's `errors` (`[{type: "auth", log_id}]` while the connection needs attention) and our `health`: its state
 * (healthy, refresh_failed, given_up, expired) and since when.
 */
function healthFields(health: ConnectionHealth) {
  return {
    errors: health.state === 'healthy' ? [] : [{ type: 'auth', log_id: '' }],
    health: { state: health.state, since: modernTimestamp(health.since) },
  };
}

/** One connection of a listed page; `now` is the page's, so one clock read serves all its connections. */
export function connectionListBody(item: ConnectionListItem, now: Date = new Date()) {
  return {
    id: item.id,
    connection_id: item.connection_id,
    provider_config_key: item.provider_config_key,
    provider: item.provider,
    ...healthFields(listedHealth(item, now)),
    end_user: endUserBody(item.end_user),
    tags: item.tags,
    metadata: item.metadata,
    created: modernTimestamp(item.created_at),
  };
}

export function connectionBody(connection: ConnectionRecord, provider: string, options: { includeRefreshToken: boolean }) {
  return {
    id: connection.id,
    connection_id: connection.connection_id,
    provider_config_key: connection.provider_config_key,
    provider,
    ...healthFields(healthOf({ ...connection, expiresAt: modeOf(connection.credentials).expiresAt(connection.credentials), renewable: isRenewable(connection.credentials) }, new Date())),
    end_user: endUserBody(connection.end_user),
    tags: connection.tags,
    metadata: connection.metadata,
    connection_config: connection.connection_config,
    webhook_url_override: connection.webhook_url_override,
    created_at: modernTimestamp(connection.created_at),
    updated_at: modernTimestamp(connection.updated_at),
    last_fetched_at: modernTimestamp(new Date()),
    credentials: modeOf(connection.credentials).show.modern(connection.credentials, options),
  };
}
