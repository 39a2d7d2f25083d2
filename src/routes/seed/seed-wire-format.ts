import { modeOf } from '../../credentials/registry.js';
import type { ConnectionRecord, ConnectionSummary } from '../../store/connections-store.js';
import { endUserBody, errorsOf, modernTimestamp } from '../modern/wire-format.js';

/**
 * The deprecated `/connection` reads: every field a seed (v0.16) client reads, as it read them, plus the fields
 * modern Nango's answer on the same path carries. Storage details (`credentials_iv`, `credentials_tag`,
 * `account_id`) are not part of it.
 */
export function seedConnectionBody(connection: ConnectionRecord, provider: string, options: { includeRefreshToken: boolean }) {
  return {
    id: connection.id,
    created_at: connection.created_at.toISOString(),
    updated_at: connection.updated_at.toISOString(),
    provider_config_key: connection.provider_config_key,
    connection_id: connection.connection_id,
    // The stored object as the seed server returned it (the mode's modern view with refresh tokens is exactly that, less
    // what no read returns: a client certificate's private key); without refresh tokens when they are not wanted.
    credentials: modeOf(connection.credentials).show.modern(connection.credentials, options),
    connection_config: connection.connection_config,
    metadata: connection.metadata,
    provider,
    errors: errorsOf(connection),
    end_user: endUserBody(connection.end_user),
    tags: connection.tags,
    last_fetched_at: modernTimestamp(new Date()),
  };
}

/** A row of `GET /connection`: `provider` keeps its seed meaning (the integration's key), `provider_config_key` says the same by its modern name. */
export function seedConnectionListItem(row: ConnectionSummary) {
  return {
    id: row.id,
    connection_id: row.connection_id,
    provider: row.provider_config_key,
    created: row.created_at,
    provider_config_key: row.provider_config_key,
    metadata: row.metadata,
    tags: row.tags,
    errors: errorsOf(row),
    end_user: endUserBody(row.end_user),
  };
}
