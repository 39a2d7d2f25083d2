import type { Knex } from 'knex';
import { runPrepared } from '../db/prepared-statement.js';
import { ACCOUNT_ID, FIND_MANY_WITH_INTEGRATION, sealedOf, wantedIndexOf, type SealedConnection } from './connection-rows.js';

/** Keys per statement: a bound on one statement's size, not a PostgreSQL limit (the keys travel as two arrays). */
const MOST_KEYS_PER_LOOKUP = 500;

/**
 * Lookups under way at once. One: measured at 10 concurrent credential reads without the cache, a second or third
 * lookup under way made smaller groups and cost more CPU per read, in the server and in PostgreSQL, for no shorter
 * wait. A lookup is a few index probes; the one under way is never long to wait for.
 */
const LOOKUPS_IN_FLIGHT = 1;

/** The requests waiting for one connection, and the way each learns the outcome. */
interface Wanted {
  providerConfigKey: string;
  connectionId: string;
  callers: { resolve: (found: SealedConnection | undefined) => void; reject: (error: unknown) => void }[];
}

/**
 * The lookups of connections by key that credential reads and proxy calls start with, shared between requests as
 * the audit trail's group inserts are (src/store/audit-log-store.ts): a lookup gathers the keys of the requests
 * handled in the same turn of the event loop, and while one is under way the keys that arrive meanwhile go into the
 * next one. Under load many reads cost one statement, one round trip
 * and one result description to parse, instead of one each; requests for the same connection share its row (and
 * the store opens it once for them).
 *
 * Fresh as a lookup of its own: a request only ever joins a lookup that has not been sent yet, so the statement
 * that answers it starts after it arrived and sees every change committed before that.
 */
export class ConnectionLookups {
  private waiting = new Map<string, Wanted>();
  private running = 0;
  /** A lookup is due at the end of this turn of the event loop. */
  private due = false;

  constructor(private readonly knex: Knex) {}

  find(providerConfigKey: string, connectionId: string): Promise<SealedConnection | undefined> {
    return new Promise((resolve, reject) => {
      // A separator no identifier contains: the pair, not a concatenation two pairs could share.
      const key = `${providerConfigKey}\u0000${connectionId}`;
      let wanted = this.waiting.get(key);
      if (!wanted) {
        wanted = { providerConfigKey, connectionId, callers: [] };
        this.waiting.set(key, wanted);
      }
      wanted.callers.push({ resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.due || this.running >= LOOKUPS_IN_FLIGHT) return;
    this.due = true;
    setImmediate(() => {
      this.due = false;
      void this.lookUpWaiting();
    });
  }

  private async lookUpWaiting(): Promise<void> {
    this.running++;
    while (this.waiting.size > 0) {
      const batch = this.takeWaiting();
      try {
        const rows = await runPrepared<unknown[]>(this.knex, FIND_MANY_WITH_INTEGRATION, [
          batch.map((wanted) => wanted.providerConfigKey),
          batch.map((wanted) => wanted.connectionId),
          ACCOUNT_ID,
        ]);
        const found: (SealedConnection | undefined)[] = new Array<SealedConnection | undefined>(batch.length).fill(undefined);
        for (const row of rows) found[wantedIndexOf(row)] = sealedOf(row);
        batch.forEach((wanted, index) => {
          for (const caller of wanted.callers) caller.resolve(found[index]);
        });
      } catch (error) {
        for (const wanted of batch) for (const caller of wanted.callers) caller.reject(error);
      }
    }
    this.running--;
  }

  /** The oldest waiting keys, up to a statement's worth; the rest stay for the next lookup. */
  private takeWaiting(): Wanted[] {
    if (this.waiting.size <= MOST_KEYS_PER_LOOKUP) {
      const all = [...this.waiting.values()];
      this.waiting = new Map();
      return all;
    }
    const batch: Wanted[] = [];
    for (const [key, wanted] of this.waiting) {
      if (batch.length === MOST_KEYS_PER_LOOKUP) break;
      batch.push(wanted);
      this.waiting.delete(key);
    }
    return batch;
  }
}
