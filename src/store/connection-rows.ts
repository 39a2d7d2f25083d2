import type { StoredCredentials } from '../credentials/registry.js';
import { SCHEMA } from '../db/database.js';
import type { PreparedStatement } from '../db/prepared-statement.js';
import { CONFIG_COLUMNS, type ConfigRecord } from './configs-store.js';

/**
 * The shapes of `_nango_connections` rows: as stored (sealed), as the services see them (credentials opened
 * and parsed), and the statements the store prepares.
 */

/** A row of `_nango_connections` with its credentials decrypted; the wire shape of the seed API. */
export interface ConnectionRecord {
  id: number;
  created_at: Date;
  updated_at: Date;
  provider_config_key: string;
  connection_id: string;
  /** Opened and checked against their mode's schema (src/credentials/). */
  credentials: StoredCredentials;
  connection_config: Record<string, unknown>;
  account_id: number;
  metadata: Record<string, unknown>;
  credentials_iv: string | null;
  credentials_tag: string | null;
  last_refresh_success: Date | null;
  last_refresh_failure: Date | null;
  last_refresh_error: string | null;
  refresh_attempts: number;
  /** When the token keeper next looks at the connection; null when its credentials cannot be renewed, or it gave up. */
  refresh_due_at: Date | null;
  /** The first failure of the refreshes failing now; null while they succeed. */
  refresh_failing_since: Date | null;
  /** When the keeper stopped retrying (after NANGO_REFRESH_GIVE_UP_DAYS of failures); cleared by a re-authorisation or a refresh by hand. */
  refresh_given_up_at: Date | null;
  end_user: EndUser | null;
  tags: Record<string, string>;
  webhook_url_override: string | null;
}

/** A connection's place in the token keeper's schedule after a failed refresh. */
interface RefreshFailurePlan {
  refresh_due_at: Date | null;
  refresh_failing_since: Date;
  refresh_given_up_at: Date | null;
  refresh_attempts: number;
}

/**
 * How the store schedules connections for the token keeper as it writes them (src/keeper/refresh-schedule.ts):
 * when credentials just obtained fall due, and where a failed refresh leaves the connection.
 */
export interface RefreshPlanner {
  /** `now` defaults to the planner's own clock (a connection just authorised). */
  dueAfterRenewal(credentials: StoredCredentials, now?: Date): Date | null;
  afterFailure(previous: Pick<ConnectionRecord, 'refresh_failing_since' | 'refresh_attempts'>, now: Date, restart: boolean): RefreshFailurePlan;
}

/** Who a connection belongs to in the operator's product (modern API). */
export interface EndUser {
  id: string;
  email?: string | null;
  display_name?: string | null;
  tags?: Record<string, string>;
  organization?: { id: string; display_name?: string | null } | null;
}

export interface ConnectionListFilter {
  connectionId?: string;
  search?: string;
  endUserId?: string;
  endUserOrganizationId?: string;
  integrationIds?: string[];
  tags?: Record<string, string>;
  limit: number;
  offset: number;
  /** Keyset paging: only connections listed after this one (older, or as old with a smaller id). */
  after?: ListPosition;
}

/** Where a listed connection sits in the newest-first order: its creation time in whole microseconds (exact) and its id. */
export interface ListPosition {
  createdMicros: string;
  id: number;
}

/** One page of the modern list, and the position of its last connection when more follow. */
export interface ConnectionListPage {
  items: ConnectionListItem[];
  next: ListPosition | null;
}

export interface ConnectionListItem {
  id: number;
  connection_id: string;
  provider_config_key: string;
  provider: string | null;
  end_user: EndUser | null;
  tags: Record<string, string>;
  metadata: Record<string, unknown>;
  created_at: Date;
  last_refresh_failure: Date | null;
  refresh_attempts: number;
  credentials_expires_at: Date | null;
  refresh_due_at: Date | null;
  refresh_failing_since: Date | null;
  refresh_given_up_at: Date | null;
}

/** A row of the seed list (`GET /connection`): what Nango v0.16 listed, and the modern fields its successor lists too. */
export interface ConnectionSummary {
  id: number;
  connection_id: string;
  provider_config_key: string;
  created_at: Date;
  end_user: EndUser | null;
  tags: Record<string, string>;
  metadata: Record<string, unknown>;
  last_refresh_failure: Date | null;
  refresh_attempts: number;
}

export interface ConnectionWrite {
  provider_config_key: string;
  connection_id: string;
  /** Stored as one JSON document, sealed when a key is set. */
  credentials: StoredCredentials;
  connection_config: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** Modern fields; kept as they are on an existing connection when absent. */
  end_user?: EndUser | null;
  tags?: Record<string, string>;
  webhook_url_override?: string | null;
}

export interface ConnectionRow extends Omit<ConnectionRecord, 'credentials' | 'connection_config' | 'metadata' | 'tags'> {
  credentials: unknown;
  tags: Record<string, string> | null;
  credentials_expires_at: Date | null;
  connection_config: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
}

export const TABLE = `${SCHEMA}._nango_connections`;
export const ACCOUNT_ID = 0;

/** Every column of a connection row, named: a prepared statement must not say `*` (see runPrepared). */
export const CONNECTION_COLUMNS = [
  'id', 'created_at', 'updated_at', 'provider_config_key', 'connection_id', 'credentials', 'connection_config', 'account_id', 'metadata',
  'credentials_iv', 'credentials_tag', 'credentials_expires_at', 'last_refresh_success', 'last_refresh_failure', 'last_refresh_error',
  'refresh_attempts', 'refresh_due_at', 'refresh_failing_since', 'refresh_given_up_at', 'end_user', 'tags', 'webhook_url_override',
] as const satisfies readonly (keyof ConnectionRow)[];
/** A connection's columns that hold a time (timestamptz): a lookup's row carries them as ISO 8601 text. */
const CONNECTION_TIME_COLUMNS: ReadonlySet<string> = new Set([
  'created_at', 'updated_at', 'credentials_expires_at', 'last_refresh_success', 'last_refresh_failure', 'refresh_due_at', 'refresh_failing_since', 'refresh_given_up_at',
] satisfies (keyof ConnectionRow)[]);
const CONFIG_TIME_COLUMNS: ReadonlySet<string> = new Set(['created_at', 'updated_at'] satisfies (keyof ConfigRecord)[]);

/**
 * Connections and their integrations for any number of keys (two arrays, the i-th key being the pair of their i-th
 * elements) in one statement (src/store/connection-lookups.ts); a key without a connection has no row. Each key is
 * an index lookup of its own (LATERAL … LIMIT 1), whatever plan PostgreSQL makes for the arrays. A row has two
 * columns (see sealedOf): which key it answers (1 for the first), and one JSON array of the connection's columns
 * then the integration's.
 *
 * One JSON value rather than a column each: pg describes a result afresh for every statement and builds a parser
 * and a row template per column each time, and parses times with a regular expression; for this row's 37
 * columns that was about half of what a lookup cost this process (measured: about 55 µs of CPU per lookup of one
 * key against 115 µs). The array is parsed by JSON.parse, in one pass, and only its times are made Dates.
 *
 * The arrays reach `unnest` through a subquery PostgreSQL may not flatten (OFFSET 0), so no plan knows how many keys
 * a lookup has. Given the arrays themselves, each execution's own plan counted their keys and always looked cheaper
 * than the plan made once for any number of keys: PostgreSQL planned the statement again on every lookup, which cost
 * it three times what running the statement did (measured: about 180 µs of its CPU per lookup, against 60 µs).
 * Now both plans are costed alike and, from the sixth execution on a pooled connection, the one made once is used.
 */
export const FIND_MANY_WITH_INTEGRATION: PreparedStatement = {
  name: 'custody_find_connections_with_integrations',
  text: `SELECT wanted.n::int AS custody_wanted, json_build_array(${[...CONNECTION_COLUMNS.map((column) => `c.${column}`), ...CONFIG_COLUMNS.map((column) => `k.${column}`)].join(', ')}) AS custody_row
    FROM (SELECT $1::text[] AS provider_config_keys, $2::text[] AS connection_ids OFFSET 0) AS given
    CROSS JOIN LATERAL unnest(given.provider_config_keys, given.connection_ids) WITH ORDINALITY AS wanted(provider_config_key, connection_id, n)
    CROSS JOIN LATERAL (
      SELECT ${CONNECTION_COLUMNS.join(', ')} FROM ${TABLE} c WHERE c.provider_config_key = wanted.provider_config_key AND c.connection_id = wanted.connection_id AND c.account_id = $3 LIMIT 1
    ) c
    LEFT JOIN ${SCHEMA}._nango_configs k ON k.unique_key = c.provider_config_key AND k.account_id = c.account_id`,
  rowMode: 'array',
};

/** A connection and its integration as stored (sealed), as FIND_MANY_WITH_INTEGRATION reads them and the cache keeps them. */
export interface SealedConnection {
  connection: ConnectionRow;
  config: ConfigRecord | undefined;
}

/** Which of the keys asked for a lookup's row answers: 0 for the first. */
export function wantedIndexOf(row: unknown[]): number {
  return (row[0] as number) - 1;
}

/**
 * A lookup's row as its connection and integration, each an object of its own with its columns in a fixed order
 * (one shape for every row), times as Dates (as pg makes them: to the millisecond); the integration's columns are
 * all null when it is missing. pg has parsed the JSON array (its parser for the json type).
 */
export function sealedOf(row: unknown[]): SealedConnection {
  const values = row[1] as unknown[];
  const connection: Record<string, unknown> = {};
  let at = 0;
  for (const column of CONNECTION_COLUMNS) connection[column] = valueOf(values[at++], CONNECTION_TIME_COLUMNS.has(column));
  if (values[at] === null) return { connection: connection as unknown as ConnectionRow, config: undefined };
  const config: Record<string, unknown> = {};
  for (const column of CONFIG_COLUMNS) config[column] = valueOf(values[at++], CONFIG_TIME_COLUMNS.has(column));
  return { connection: connection as unknown as ConnectionRow, config: config as unknown as ConfigRecord };
}

/** A value of the JSON array; a time (ISO 8601 with its offset, as PostgreSQL writes a timestamptz in JSON) as a Date. */
function valueOf(value: unknown, time: boolean): unknown {
  return time && typeof value === 'string' ? new Date(value) : value;
}

/** Columns of a list item, in the list's order of preference; the joined integration gives `provider`. */
export const LIST_COLUMNS = [
  'c.id', 'c.connection_id', 'c.provider_config_key', 'k.provider', 'c.end_user', 'c.tags', 'c.metadata', 'c.created_at', 'c.last_refresh_failure', 'c.refresh_attempts',
  'c.credentials_expires_at', 'c.refresh_due_at', 'c.refresh_failing_since', 'c.refresh_given_up_at',
  // The row's list position, exact to the microsecond (a JavaScript Date keeps milliseconds), for the next page's cursor.
  '(extract(epoch from c.created_at) * 1000000)::bigint::text AS custody_created_micros',
];

/** The keyset condition of a page after a position, in the list's order (created_at DESC, id DESC). */
export const AFTER_POSITION = `(c.created_at, c.id) < (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::bigint)`;

/** The unfiltered page, the list most callers ask for (the SDKs' listConnections without arguments). */
export const LIST_NEWEST: PreparedStatement = {
  name: 'custody_list_newest_connections',
  text: `SELECT ${LIST_COLUMNS.join(', ')}
    FROM ${TABLE} c
    LEFT JOIN ${SCHEMA}._nango_configs k ON k.unique_key = c.provider_config_key AND k.account_id = c.account_id
    WHERE c.account_id = $1
    ORDER BY c.created_at DESC, c.id DESC
    LIMIT $2 OFFSET $3`,
};

export type ListRow = Omit<ConnectionListItem, 'tags' | 'metadata'> & { tags: Record<string, string> | null; metadata: Record<string, unknown> | null; custody_created_micros: string };
