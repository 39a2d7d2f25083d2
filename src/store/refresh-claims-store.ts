import type { Knex } from 'knex';
import { ACCOUNT_ID, TABLE } from './connection-rows.js';

/** A connection the token keeper has claimed for one refresh (see TokenRefresher.refreshClaimed). */
export interface ClaimedConnection {
  providerConfigKey: string;
  connectionId: string;
  claimedUntil: Date;
}

/** How many connections are in each health state (the keeper's gauges); every other connection is healthy. */
export interface HealthCounts {
  total: number;
  refresh_failed: number;
  given_up: number;
  expired: number;
}

/**
 * The token keeper's queries on `_nango_connections`. Each is one statement, so it holds inside one transaction
 * and needs no session state (a transaction-mode pooler may hand every statement another server connection).
 * They read the partial index on `refresh_due_at`: a sweep costs what is due, not the size of the table.
 */
export class RefreshClaimsStore {
  constructor(private readonly knex: Knex) {}

  /** How many connections fall due by `horizon`, and the earliest due time among them (the keeper's lag). */
  async dueBy(horizon: Date): Promise<{ due: number; earliest: Date | null }> {
    const { rows } = (await this.knex.raw(
      `SELECT count(*)::int AS due, min(refresh_due_at) AS earliest FROM ${TABLE} WHERE refresh_due_at <= ? AND account_id = ?`,
      [horizon, ACCOUNT_ID],
    )) as { rows: { due: number; earliest: Date | null }[] };
    return { due: rows[0]?.due ?? 0, earliest: rows[0]?.earliest ?? null };
  }

  /**
   * Claims up to `limit` connections due by `horizon`, earliest first, by moving their due time to `claimedUntil`:
   * other processes neither wait for rows being claimed (SKIP LOCKED) nor claim them again until the claim
   * lapses (a process that died holding it). The refresh itself checks the claim under the connection's lock.
   */
  async claim(horizon: Date, claimedUntil: Date, limit: number): Promise<ClaimedConnection[]> {
    const { rows } = (await this.knex.raw(
      `UPDATE ${TABLE} SET refresh_due_at = ?
       WHERE id IN (
         SELECT id FROM ${TABLE}
         WHERE refresh_due_at <= ? AND account_id = ?
         ORDER BY refresh_due_at
         LIMIT ?
         FOR UPDATE SKIP LOCKED)
       RETURNING provider_config_key, connection_id`,
      [claimedUntil, horizon, ACCOUNT_ID, limit],
    )) as { rows: { provider_config_key: string; connection_id: string }[] };
    return rows.map((row) => ({ providerConfigKey: row.provider_config_key, connectionId: row.connection_id, claimedUntil }));
  }

  /** Connections by health; one pass over the table, so the caller keeps the answer a while. */
  async healthCounts(now: Date): Promise<HealthCounts> {
    const { rows } = (await this.knex.raw(
      `SELECT count(*)::int AS total,
         count(*) FILTER (WHERE refresh_given_up_at IS NOT NULL)::int AS given_up,
         count(*) FILTER (WHERE refresh_given_up_at IS NULL AND refresh_failing_since IS NOT NULL)::int AS refresh_failed,
         count(*) FILTER (WHERE refresh_failing_since IS NULL AND refresh_given_up_at IS NULL AND refresh_due_at IS NULL AND credentials_expires_at <= ?)::int AS expired
       FROM ${TABLE} WHERE account_id = ?`,
      [now, ACCOUNT_ID],
    )) as { rows: HealthCounts[] };
    return rows[0] ?? { total: 0, refresh_failed: 0, given_up: 0, expired: 0 };
  }
}
