import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';

/**
 * The audit trail's storage: one partition per UTC day of `at` (migrations/20260302000000_partitioned_audit_log.ts),
 * and a default partition for any row no day covers (a clock far off, an entry written back in time). A day is
 * the unit NANGO_AUDIT_RETENTION_DAYS counts in, so retention drops whole partitions and keeps entries at most
 * one day longer than it says, and at 100 reads/s a day is a table of about 1 GB that drops in milliseconds.
 */
const TABLE = '_custody_audit_log';
const DEFAULT_PARTITION = `${TABLE}_default`;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Days ahead of today kept created, so a server that stops its housekeeping for a while still writes into days. */
const AUDIT_DAYS_AHEAD = 7;

/**
 * How long a partition change waits for a lock. Creating and dropping partitions needs a moment with the table to
 * itself, and while a change waits, the statements queued behind it wait too (a credential read's entry among
 * them); past this it gives up and the next housekeeping run tries again.
 */
const LOCK_TIMEOUT = '200ms';

/** One lock for every process changing partitions, so two servers never create or drop the same day at once. */
const PARTITION_CHANGE_LOCK = 'custody audit partitions';

/** Rows one statement deletes from the default partition at most. */
const PRUNE_BATCH = 5_000;

const qualified = (name: string) => `${SCHEMA}.${name}`;
const startOfDay = (at: Date) => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS);

/** `_custody_audit_log_20261206` for the day starting 2026-12-06T00:00Z. */
export function partitionName(day: Date): string {
  return `${TABLE}_${day.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

function dayOf(name: string): Date | undefined {
  const match = /^_custody_audit_log_(\d{4})(\d{2})(\d{2})$/.exec(name);
  return match ? new Date(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`) : undefined;
}

/** What a retention run did: the day partitions dropped, those a lock kept for the next run, and default rows deleted. */
export interface RetentionOutcome {
  dropped: string[];
  postponed: string[];
  deletedFromDefault: number;
}

export class AuditPartitions {
  constructor(private readonly knex: Knex) {}

  /** The partitions of the trail, by name, the default one included. */
  async names(): Promise<string[]> {
    const result = (await this.knex.raw(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ?::regclass ORDER BY c.relname`,
      [qualified(TABLE)],
    )) as { rows: { name: string }[] };
    return result.rows.map((row) => row.name);
  }

  /**
   * Creates the day partitions from the day of `now` through AUDIT_DAYS_AHEAD days ahead that are missing. Each is
   * built beside the table, given the default partition's rows of its day, and attached: attaching locks the
   * table against changes to its partitions only, never against inserts or reads.
   */
  async createAhead(now: Date): Promise<string[]> {
    const existing = new Set(await this.names());
    const created: string[] = [];
    for (let ahead = 0; ahead <= AUDIT_DAYS_AHEAD; ahead += 1) {
      const from = new Date(startOfDay(now).getTime() + ahead * DAY_MS);
      const name = partitionName(from);
      if (existing.has(name)) continue;
      const to = new Date(from.getTime() + DAY_MS);
      const made = await this.changing(async (trx) => {
        if ((await trx.raw(`SELECT to_regclass(?) AS oid`, [qualified(name)])).rows[0].oid !== null) return false;
        await trx.raw(`CREATE TABLE ${qualified(name)} (LIKE ${qualified(TABLE)} INCLUDING DEFAULTS)`);
        await trx.raw(
          `WITH moved AS (DELETE FROM ${qualified(DEFAULT_PARTITION)} WHERE at >= ? AND at < ? RETURNING *) INSERT INTO ${qualified(name)} SELECT * FROM moved`,
          [from, to],
        );
        await trx.raw(`ALTER TABLE ${qualified(TABLE)} ATTACH PARTITION ${qualified(name)} FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`);
        return true;
      });
      if (made) created.push(name);
    }
    return created;
  }

  /**
   * Drops every day partition that ends at or before `cutoff`, and deletes the default partition's rows older
   * than it (in batches: the default partition holds only the odd row no day covered). A drop that cannot get its
   * lock within LOCK_TIMEOUT is postponed to the next run rather than keep the trail's writers waiting.
   */
  async dropOlderThan(cutoff: Date): Promise<RetentionOutcome> {
    const outcome: RetentionOutcome = { dropped: [], postponed: [], deletedFromDefault: 0 };
    for (const name of await this.names()) {
      const day = dayOf(name);
      if (!day || day.getTime() + DAY_MS > cutoff.getTime()) continue;
      const dropped = await this.changing(async (trx) => {
        if ((await trx.raw(`SELECT to_regclass(?) AS oid`, [qualified(name)])).rows[0].oid === null) return false;
        await trx.raw(`DROP TABLE ${qualified(name)}`);
        return true;
      });
      if (dropped === undefined) outcome.postponed.push(name);
      else if (dropped) outcome.dropped.push(name);
    }
    const defaultTable = qualified(DEFAULT_PARTITION);
    for (;;) {
      const deleted = await this.knex(defaultTable)
        .whereIn('id', this.knex(defaultTable).select('id').where('at', '<', cutoff).limit(PRUNE_BATCH))
        .delete();
      outcome.deletedFromDefault += deleted;
      if (deleted < PRUNE_BATCH) return outcome;
    }
  }

  /** Runs a partition change under the shared lock and LOCK_TIMEOUT; undefined when a lock was not had in time. */
  private async changing<T>(change: (trx: Knex.Transaction) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.knex.transaction(async (trx) => {
        await trx.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [PARTITION_CHANGE_LOCK]);
        return change(trx);
      });
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') return undefined;
      throw error;
    }
  }
}
