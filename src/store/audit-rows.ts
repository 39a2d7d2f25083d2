import type { AuditAction } from './audit-actions.js';

/** An audit row as inserted (its `details` go in as JSON). */
export interface NewAuditRow {
  action: AuditAction;
  route: string;
  principal: string;
  provider_config_key: string | null;
  connection_id: string | null;
  details: Record<string, unknown> | null;
  /** How many identical entries the row stands for. */
  count: number;
}

/**
 * The rows of one group insert, identical ones folded into one row that counts them. Every row of an insert gets
 * the same `at` (its transaction's time), so rows that agree in every other column say nothing apart that one row
 * with their number does not: under load, a proxy calling one endpoint of one connection, or reads of one
 * connection by one caller, cost one row per insert instead of one per request, and no entry is lost.
 *
 * Takes the rows it is given as its own: a folded row's count grows in place.
 */
export class FoldedAuditRows {
  private readonly byKey = new Map<string, NewAuditRow>();
  private last: NewAuditRow | undefined;
  /** The entries added, each row counted with its own count. */
  entries = 0;

  add(row: NewAuditRow): void {
    this.entries += row.count;
    // A busy proxy adds the same entry over and over: compared with the last row first, it needs no key.
    const last = this.last;
    if (last && sameRow(last, row)) {
      last.count += row.count;
      return;
    }
    // JSON of the columns in order: unambiguous whatever a value holds (a principal may contain any character).
    const key = JSON.stringify([row.action, row.route, row.principal, row.provider_config_key, row.connection_id, row.details]);
    const same = this.byKey.get(key);
    if (same) same.count += row.count;
    else this.byKey.set(key, row);
    this.last = same ?? row;
  }

  /** Distinct rows so far: what the insert will write. */
  get size(): number {
    return this.byKey.size;
  }

  rows(): NewAuditRow[] {
    return [...this.byKey.values()];
  }
}

/** Equal in every column, details compared key by key with their values the same primitives (else: not known equal). */
function sameRow(a: NewAuditRow, b: NewAuditRow): boolean {
  if (a.action !== b.action || a.route !== b.route || a.principal !== b.principal || a.provider_config_key !== b.provider_config_key || a.connection_id !== b.connection_id) return false;
  if (a.details === b.details) return true;
  if (a.details === null || b.details === null) return false;
  const keys = Object.keys(a.details);
  if (keys.length !== Object.keys(b.details).length) return false;
  for (const key of keys) {
    const value = a.details[key];
    if (typeof value === 'object' && value !== null) return false;
    if (!Object.hasOwn(b.details, key) || b.details[key] !== value) return false;
  }
  return true;
}
