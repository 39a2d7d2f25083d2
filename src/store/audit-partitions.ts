import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';

/**
 * The audit trail's storage (migrations/20260302000000_partitioned_audit_log.ts): the partition of everything
 * before partitioning began (`_custody_audit_log_earlier`, the old table, up to a bound two days after the
 * upgrade), one partition per UTC day of `at` from that bound on, and a default partition for any entry no
 * partition covers (a day the housekeeping has not created, a clock far off). A day is the unit
 * NANGO_AUDIT_RETENTION_DAYS counts in, so retention drops whole partitions and keeps entries at most one day
 * longer than it says; what the earlier and default partitions hold past it is deleted in short batches.
 */
const TABLE = '_custody_audit_log';
const DEFAULT_PARTITION = `${TABLE}_default`;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Days ahead of today kept created, so a server that stops its housekeeping for a while still writes into days. */
const AUDIT_DAYS_AHEAD = 7;

/**
 * How long a partition change waits for a lock. Creating and dropping partitions needs a moment with a table to
 * itself, and while a change waits, the statements queued behind it wait too (a credential read's entry among
 * them); past this it gives up and the next housekeeping run tries again.
 */
const LOCK_TIMEOUT = '200ms';

/**
 * How long creating a day may hold the default partition. Creating a day scans the default partition (empty
 * unless days went uncreated) under an exclusive lock; a default grown too large for that is left as it is.
 */
const CHANGE_TIMEOUT = '2s';

/** One lock for every process changing partitions, so two servers never create or drop the same day at once. */
const PARTITION_CHANGE_LOCK = 'custody audit partitions';

/** Rows one statement deletes at most, so no DELETE runs for long however much has built up. */
export const PRUNE_BATCH = 5_000;

const qualified = (name: string) => `${SCHEMA}.${name}`;
const startOfDay = (at: Date) => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);

/** `_custody_audit_log_20261206` for the day starting 2026-12-06T00:00Z. */
export function partitionName(day: Date): string {
  return `${TABLE}_${day.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** One partition and the range of `at` it holds; `from` null is MINVALUE; both null for the default partition. */
export interface AuditPartition {
  name: string;
  isDefault: boolean;
  from: Date | null;
  to: Date | null;
}

/** What a retention run did: the partitions dropped, those a lock kept for the next run, and rows deleted in batches. */
export interface RetentionOutcome {
  dropped: string[];
  postponed: string[];
  deletedInBatches: number;
}

export class AuditPartitions {
  constructor(private readonly knex: Knex) {}

  /** The partitions of the trail with their ranges, ordered by where their range ends (the default last). */
  async list(): Promise<AuditPartition[]> {
    // A bound prints as a literal in the session's time zone, with its offset: read back, it is the same instant.
    const result = (await this.knex.raw(
      `SELECT name, bound = 'DEFAULT' AS is_default,
              (regexp_match(bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS "from",
              (regexp_match(bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS "to"
         FROM (SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ?::regclass) partitions
        ORDER BY "to" NULLS LAST, name`,
      [qualified(TABLE)],
    )) as { rows: { name: string; is_default: boolean; from: Date | null; to: Date | null }[] };
    return result.rows.map((row) => ({ name: row.name, isDefault: row.is_default, from: row.from, to: row.to }));
  }

  /** The partitions of the trail, by name, the default one included. */
  async names(): Promise<string[]> {
    return (await this.list()).map((partition) => partition.name).sort();
  }

  /**
   * Creates the day partitions through AUDIT_DAYS_AHEAD days after the day of `now`, each after the newest
   * partition's end (never a day some partition's range already covers, never one the earlier partition's
   * bound precedes), and from the day of `now` when the newest ends before it. Returns the days created; a day
   * that did not get its locks in time waits for the next run, with every day after it.
   */
  async createAhead(now: Date): Promise<string[]> {
    const ends = (await this.list()).flatMap((partition) => (partition.to ? [partition.to.getTime()] : []));
    const today = startOfDay(now).getTime();
    const until = today + (AUDIT_DAYS_AHEAD + 1) * DAY_MS;
    const created: string[] = [];
    for (let from = Math.max(today, ...ends); from < until; from += DAY_MS) {
      const made = await this.createDay(new Date(from), new Date(from + DAY_MS));
      if (made === undefined) break;
      if (made) created.push(partitionName(new Date(from)));
    }
    return created;
  }

  /**
   * One day: built beside the table, given the default partition's rows of its day if it holds any, and
   * attached. Attaching locks the partitioned table only against other partition changes, never against inserts
   * or reads; the default partition is locked for a moment, to prove it keeps no row of the day.
   */
  private async createDay(from: Date, to: Date): Promise<boolean | undefined> {
    const name = partitionName(from);
    return this.changing(async (trx) => {
      if ((await trx.raw(`SELECT to_regclass(?) AS oid`, [qualified(name)])).rows[0].oid !== null) return false;
      // Its own primary key, as every partition has (the partitioned table has none: see the migration).
      await trx.raw(`CREATE TABLE ${qualified(name)} (LIKE ${qualified(TABLE)} INCLUDING DEFAULTS, PRIMARY KEY (id))`);
      const stray = await trx.raw(`SELECT 1 FROM ${qualified(DEFAULT_PARTITION)} WHERE at >= ? AND at < ? LIMIT 1`, [from, to]);
      if (stray.rows.length > 0) {
        // Entries of a day that was not created in time: moved with the default partition closed to inserts, so
        // none of the day arrives between the move and the attach.
        await trx.raw(`LOCK TABLE ${qualified(DEFAULT_PARTITION)} IN SHARE ROW EXCLUSIVE MODE`);
        await trx.raw(`WITH moved AS (DELETE FROM ${qualified(DEFAULT_PARTITION)} WHERE at >= ? AND at < ? RETURNING *) INSERT INTO ${qualified(name)} SELECT * FROM moved`, [from, to]);
      }
      await trx.raw(`ALTER TABLE ${qualified(TABLE)} ATTACH PARTITION ${qualified(name)} FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`);
      return true;
    });
  }

  /**
   * Drops every partition whose range ends at or before `cutoff` (the days, and the earlier partition once all
   * of it is past), and deletes in batches of PRUNE_BATCH what the earlier and default partitions hold before
   * it. A drop that cannot get its lock within LOCK_TIMEOUT is postponed to the next run rather than keep the
   * trail's writers waiting.
   */
  async dropOlderThan(cutoff: Date): Promise<RetentionOutcome> {
    const outcome: RetentionOutcome = { dropped: [], postponed: [], deletedInBatches: 0 };
    const kept: AuditPartition[] = [];
    for (const partition of await this.list()) {
      if (!partition.to || partition.to.getTime() > cutoff.getTime()) {
        kept.push(partition);
        continue;
      }
      const dropped = await this.changing(async (trx) => {
        if ((await trx.raw(`SELECT to_regclass(?) AS oid`, [qualified(partition.name)])).rows[0].oid === null) return false;
        await trx.raw(`DROP TABLE ${qualified(partition.name)}`);
        return true;
      });
      if (dropped === undefined) outcome.postponed.push(partition.name);
      else if (dropped) outcome.dropped.push(partition.name);
    }
    // A day partition is dropped whole once past; only the earlier and default partitions mix old and new rows.
    for (const partition of kept.filter((candidate) => candidate.isDefault || candidate.from === null)) {
      outcome.deletedInBatches += await this.deleteInBatches(partition.name, cutoff);
    }
    return outcome;
  }

  /** Each statement deletes at most PRUNE_BATCH rows, found through the partition's index on `at`. */
  private async deleteInBatches(partition: string, cutoff: Date): Promise<number> {
    const table = qualified(partition);
    let total = 0;
    for (;;) {
      const deleted = await this.knex(table)
        .whereIn('id', this.knex(table).select('id').where('at', '<', cutoff).orderBy('at').limit(PRUNE_BATCH))
        .delete();
      total += deleted;
      if (deleted < PRUNE_BATCH) return total;
    }
  }

  /**
   * Runs a partition change under the shared lock, LOCK_TIMEOUT and CHANGE_TIMEOUT; undefined when it did not
   * get a lock in time, ran too long, or met an entry that arrived for its day meanwhile: the next run retries.
   */
  private async changing<T>(change: (trx: Knex.Transaction) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.knex.transaction(async (trx) => {
        await trx.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        await trx.raw(`SET LOCAL statement_timeout = '${CHANGE_TIMEOUT}'`);
        await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [PARTITION_CHANGE_LOCK]);
        return change(trx);
      });
    } catch (error) {
      if (['55P03', '57014', '23514'].includes((error as { code?: string }).code ?? '')) return undefined;
      throw error;
    }
  }
}
