import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import { auditInsertText, type AuditSynchronousCommit } from '../db/audit-commit.js';
import { runPrepared, type PreparedStatement } from '../db/prepared-statement.js';
import { AuditPartitions } from './audit-partitions.js';
import type { AuditAction } from './audit-actions.js';
import { FoldedAuditRows, type NewAuditRow } from './audit-rows.js';

/** One line of the audit trail: who touched which credentials, when, and through which route. */
export interface AuditEntry {
  action: AuditAction;
  route: string;
  principal: string;
  providerConfigKey?: string | null;
  connectionId?: string | null;
  details?: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  id: string;
  at: Date;
  /** How many identical entries this row stands for: they were written by one insert, so they share `at`. */
  count: number;
}

export interface AuditFilter {
  providerConfigKey?: string;
  connectionId?: string;
  action?: string;
  principal?: string;
  /** Entries whose principal starts with this text ("dashboard:" finds every dashboard user). */
  principalPrefix?: string;
  since?: Date;
  until?: Date;
  /** Entries with an id below this one (the next page). */
  before?: string;
  limit: number;
}

/** One page of a listing, newest first, with the cursors of the pages either side (null at either end). */
export interface AuditPage {
  entries: AuditRecord[];
  /** Pass as `before` for the next, older page. */
  olderCursor: string | null;
  /** Pass as `after` for the previous, newer page. */
  newerCursor: string | null;
}

const TABLE = `${SCHEMA}._custody_audit_log`;

/** How a group of entries written beside the answer ended: `error` (and the routes whose entries are lost) when its insert failed. */
export interface LaterGroupOutcome {
  entries: number;
  error?: unknown;
  routes?: string[];
}

/** Entries of requests waiting for the next group insert, each with its request's way to learn the outcome. */
interface Waiting {
  rows: NewAuditRow[];
  settle: (error?: unknown) => void;
}

/** How long entries nobody waits for gather before they are inserted together. */
const LATER_INSERT_DELAY_MS = 100;

/** Rows per group insert: a bound on one statement's size, not a PostgreSQL limit. */
const MOST_ROWS_PER_INSERT = 1_000;

/**
 * One statement for any number of rows, sent as one JSON array of them, per commit mode (src/db/audit-commit.ts).
 * JSON rather than an array per column: the driver builds array literals by escaping and concatenating every
 * value in JavaScript, which cost more per entry than the rest of its insert; JSON.stringify is native.
 */
const insertEntries = (synchronousCommit: AuditSynchronousCommit): PreparedStatement => ({
  // Prepared once per pooled connection, as the read path's own statement: parsing and planning it anew cost
  // PostgreSQL more than inserting the rows (a transaction pooler runs it unnamed, src/db/prepared-statement.ts).
  name: `custody_audit_insert_counted_${synchronousCommit}`,
  text: auditInsertText(
    `INSERT INTO ${TABLE} (action, route, principal, provider_config_key, connection_id, details, count)`,
    'entries.*',
    'json_to_recordset($1::json) AS entries(action text, route text, principal text, provider_config_key text, connection_id text, details jsonb, count integer)',
    synchronousCommit,
  ),
});

export class AuditLogStore {
  private waiting: Waiting[] = [];
  /** Group inserts under way, at most `insertsInFlight`. */
  private inserting = 0;
  /** An insert is due at the end of this turn of the event loop. */
  private insertDue = false;
  /** Rows for `recordLater`, folded as they come, with the outcome their callers share. */
  private later: { rows: FoldedAuditRows; done: Promise<LaterGroupOutcome>; settle: (outcome: LaterGroupOutcome) => void } | undefined;
  private laterTimer: NodeJS.Timeout | undefined;

  private readonly insertStatement: PreparedStatement;
  /** The day partitions the trail is kept in: created ahead and dropped by the housekeeping. */
  readonly partitions: AuditPartitions;

  constructor(
    private readonly knex: Knex,
    /** Whether a group insert's commit waits for the disk flush (src/db/audit-commit.ts says what each choice keeps). */
    synchronousCommit: AuditSynchronousCommit = 'off',
    /**
     * Group inserts that may be under way at once (each holds a pooled connection: the container leaves one of
     * the pool to other statements). With one, a request arriving during an insert waited for that whole insert
     * before its own began; with more, its insert starts at the end of the current turn of the event loop.
     */
    private readonly insertsInFlight = 1,
  ) {
    this.insertStatement = insertEntries(synchronousCommit);
    this.partitions = new AuditPartitions(knex);
  }

  /**
   * Resolves once the entries are committed. Inside a transaction when given one, so the trace commits or rolls
   * back with the change it describes. Otherwise requests share inserts (group commit): an insert gathers the
   * entries of the requests handled in the same turn of the event loop, up to `insertsInFlight` inserts run at
   * once, and while all of them are under way the entries that arrive meanwhile go into the next one. Under load
   * many credential reads cost one statement instead of one each, and none waits behind a whole insert of others
   * while a pooled connection is free for its own.
   */
  async record(entries: AuditEntry[], trx?: Knex.Transaction): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map(rowOf);
    if (trx) {
      await trx(TABLE).insert(rows);
      return;
    }
    await this.insertRows(rows);
  }

  /** Rows for the next group insert; resolves once it has committed them. */
  private insertRows(rows: NewAuditRow[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      this.scheduleInsert();
    });
  }

  /**
   * Starts an insert at the end of this turn of the event loop, so the requests that arrived together share it (a
   * lone request loses nothing measurable), unless one is already due or every insert allowed is under way: then an
   * insert that ends takes what is waiting.
   */
  private scheduleInsert(): void {
    if (this.insertDue || this.inserting >= this.insertsInFlight) return;
    this.insertDue = true;
    setImmediate(() => {
      this.insertDue = false;
      void this.insertWaiting();
    });
  }

  /**
   * For entries no answer waits for (the proxy's): they gather for up to LATER_INSERT_DELAY_MS and go in as one
   * insert, so a busy proxy costs the database a statement per tenth of a second rather than one per call, and
   * identical ones are folded as they arrive (one counted row), so none is held in memory until then.
   * Returns the group's outcome, the same promise for every call of the group (it never rejects: a failure is
   * the outcome's `error`); `flush` writes them at once (at shutdown).
   */
  recordLater(entries: AuditEntry[]): Promise<LaterGroupOutcome> {
    if (entries.length === 0) return Promise.resolve({ entries: 0, routes: [] });
    if (!this.later) {
      let settle: (outcome: LaterGroupOutcome) => void = () => undefined;
      const done = new Promise<LaterGroupOutcome>((resolve) => (settle = resolve));
      this.later = { rows: new FoldedAuditRows(), done, settle };
      this.laterTimer = setTimeout(() => void this.flush(), LATER_INSERT_DELAY_MS);
    }
    const later = this.later;
    for (const entry of entries) later.rows.add(rowOf(entry));
    if (later.rows.size >= MOST_ROWS_PER_INSERT) void this.flush();
    return later.done;
  }

  /** Inserts the entries `recordLater` is holding, now. */
  async flush(): Promise<void> {
    const later = this.later;
    if (!later) return;
    this.later = undefined;
    clearTimeout(this.laterTimer);
    const rows = later.rows.rows();
    const entries = later.rows.entries;
    await this.insertRows(rows).then(
      () => later.settle({ entries }),
      (error: unknown) => later.settle({ entries, error, routes: [...new Set(rows.map((row) => row.route))] }),
    );
  }

  private async insertWaiting(): Promise<void> {
    this.inserting++;
    while (this.waiting.length > 0) {
      const batch: Waiting[] = [];
      let rowCount = 0;
      while (this.waiting.length > 0 && (batch.length === 0 || rowCount + (this.waiting[0]?.rows.length ?? 0) <= MOST_ROWS_PER_INSERT)) {
        const next = this.waiting.shift() as Waiting;
        batch.push(next);
        rowCount += next.rows.length;
      }
      try {
        await runPrepared(this.knex, this.insertStatement, [JSON.stringify(foldedRows(batch))]);
        for (const waiting of batch) waiting.settle();
      } catch (error) {
        // One insert, one outcome: every request of the batch fails, none is answered without its trace.
        for (const waiting of batch) waiting.settle(error);
      }
    }
    this.inserting--;
  }

  /** Newest first. */
  async list(filter: AuditFilter): Promise<AuditRecord[]> {
    const query = this.filtered(filter).select('*').orderBy('id', 'desc').limit(filter.limit);
    if (filter.before) query.where('id', '<', filter.before);
    return ((await query) as AuditRow[]).map(toRecord);
  }

  /**
   * One page by keyset, newest first: the newest entries, those older than `before`, or those just newer than
   * `after`. Ids only grow, so entries written meanwhile never shift a page.
   */
  async page(filter: Omit<AuditFilter, 'before'>, cursor: { before?: string; after?: string }): Promise<AuditPage> {
    const query = this.filtered(filter).select('*').limit(filter.limit + 1);
    if (cursor.after) query.where('id', '>', cursor.after).orderBy('id', 'asc');
    else query.orderBy('id', 'desc');
    if (cursor.before) query.where('id', '<', cursor.before);
    const rows = (await query) as AuditRow[];
    const hasMore = rows.length > filter.limit;
    const entries = rows.slice(0, filter.limit).map(toRecord);
    if (cursor.after) entries.reverse();
    const newest = entries[0];
    const oldest = entries.at(-1);
    if (!newest || !oldest) return { entries, olderCursor: null, newerCursor: null };
    // The extra row fetched answers for the side being walked towards; the other side is one indexed probe.
    const older = cursor.after ? await this.exists(filter, '<', oldest.id) : hasMore;
    const newer = cursor.after ? hasMore : cursor.before !== undefined && (await this.exists(filter, '>', newest.id));
    return { entries, olderCursor: older ? oldest.id : null, newerCursor: newer ? newest.id : null };
  }

  private async exists(filter: Omit<AuditFilter, 'before' | 'limit'>, direction: '<' | '>', id: string): Promise<boolean> {
    return (await this.filtered(filter).where('id', direction, id).first('id')) !== undefined;
  }

  private filtered(filter: Omit<AuditFilter, 'before' | 'limit'>): Knex.QueryBuilder {
    const query = this.knex(TABLE);
    if (filter.providerConfigKey) query.where('provider_config_key', filter.providerConfigKey);
    if (filter.connectionId) query.where('connection_id', filter.connectionId);
    if (filter.action) query.where('action', filter.action);
    if (filter.principal) query.where('principal', filter.principal);
    if (filter.principalPrefix) query.whereLike('principal', `${filter.principalPrefix.replace(/[\\%_]/g, (char) => `\\${char}`)}%`);
    if (filter.since) query.where('at', '>=', filter.since);
    if (filter.until) query.where('at', '<', filter.until);
    return query;
  }
}

/** The rows of a batch, identical ones folded (a lone request's rows as they are). */
function foldedRows(batch: Waiting[]): NewAuditRow[] {
  if (batch.length === 1 && (batch[0]?.rows.length ?? 0) <= 1) return batch[0]?.rows ?? [];
  const folded = new FoldedAuditRows();
  for (const waiting of batch) for (const row of waiting.rows) folded.add(row);
  return folded.rows();
}

/** A row as read: what was inserted, with its id and time. */
interface AuditRow extends NewAuditRow {
  id: string;
  at: Date;
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: String(row.id),
    at: row.at,
    action: row.action,
    route: row.route,
    principal: row.principal,
    providerConfigKey: row.provider_config_key,
    connectionId: row.connection_id,
    details: row.details,
    count: row.count,
  };
}

function rowOf(entry: AuditEntry): NewAuditRow {
  return {
    action: entry.action,
    route: entry.route.slice(0, 255),
    principal: entry.principal.slice(0, 255),
    provider_config_key: entry.providerConfigKey ?? null,
    connection_id: entry.connectionId ?? null,
    // An object: JSON in the group insert, and the driver sends an object as JSON to an insert of its own.
    details: entry.details ?? null,
    count: 1,
  };
}
