import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Cipher } from '../../src/crypto/aes-gcm.js';
import { sealCredentials } from '../../src/store/sealing.js';

/**
 * Many connections at once, in SQL (generate_series, one transaction), in the row shape the store writes:
 * credentials sealed with the server's key in Nango's format (`{"encrypted_credentials": …}` with IV and tag
 * columns), end user, tags, metadata. The credentials are sealed once and shared by every row: listing never
 * opens them, and a get opens them as it would any row. created_at is spread over time, as real rows are.
 */
export interface SeedOptions {
  providerConfigKey: string;
  /** connection_id is `<prefix><n>` for n = 1…count. */
  prefix: string;
  count: number;
  encryptionKey: string;
}

export async function seedConnections(connection: pg.ClientConfig, options: SeedOptions): Promise<{ ms: number }> {
  const credentials = {
    type: 'OAUTH2',
    access_token: 'bench-access-token-0123456789abcdef',
    raw: { access_token: 'bench-access-token-0123456789abcdef', token_type: 'bearer', scope: 'read' },
  };
  const sealed = sealCredentials(new Cipher(options.encryptionKey), credentials);
  const client = new pg.Client(connection);
  await client.connect();
  try {
    const started = performance.now();
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO nango._nango_connections
         (provider_config_key, connection_id, account_id, credentials, credentials_iv, credentials_tag,
          connection_config, metadata, end_user, tags, refresh_attempts, created_at, updated_at)
       SELECT $1, $2::text || n, 0, $3::json, $4, $5,
              '{}'::jsonb, '{}'::jsonb, jsonb_build_object('id', 'end-user-' || n), '{}'::jsonb, 0,
              now() - make_interval(secs => $6::int - n), now()
       FROM generate_series(1, $6::int) AS n`,
      [options.providerConfigKey, options.prefix, JSON.stringify(sealed.credentials), sealed.iv, sealed.tag, options.count],
    );
    await client.query('COMMIT');
    const ms = performance.now() - started;
    // Fresh statistics, as autovacuum would gather soon after a bulk load; without them the planner guesses.
    await client.query('ANALYZE nango._nango_connections');
    return { ms };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
