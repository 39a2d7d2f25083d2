import type { Knex } from 'knex';
import pg from 'pg';
import { closeConnectionNow } from './query-timeouts.js';

/** How long a readiness check waits for the database before it says "not ready". */
export const PROBE_TIMEOUT_MS = 2_000;
/** A check's answer is reused this long, so a flood of probes costs the database at most one connection a second. */
const PROBE_REUSE_MS = 1_000;

/**
 * Whether the database answers right now, for the readiness check: a fresh connection and `SELECT 1`, so a
 * pool full of stuck connections cannot make the answer wait, and a database that takes no new connections
 * says "not ready". Bounded by PROBE_TIMEOUT_MS; callers at the same moment share one check.
 */
export class DatabaseProbe {
  private last: { at: number; reachable: boolean } | undefined;
  private running: Promise<boolean> | undefined;

  constructor(
    private readonly target: { connection: pg.ClientConfig } | { knex: Knex },
    private readonly timeoutMs = PROBE_TIMEOUT_MS,
  ) {}

  async reachable(): Promise<boolean> {
    if (this.last && Date.now() - this.last.at < PROBE_REUSE_MS) return this.last.reachable;
    this.running ??= this.check().then((reachable) => {
      this.last = { at: Date.now(), reachable };
      this.running = undefined;
      return reachable;
    });
    return this.running;
  }

  private async check(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.timeoutMs)));
    const client = 'connection' in this.target ? new pg.Client({ ...this.target.connection, connectionTimeoutMillis: this.timeoutMs }) : undefined;
    client?.on('error', () => undefined);
    const answered = (async () => {
      if (client) {
        await client.connect();
        await client.query('SELECT 1');
      } else if ('knex' in this.target) {
        await this.target.knex.raw('SELECT 1');
      }
      return true;
    })().catch(() => false);
    try {
      return await Promise.race([answered, expired]);
    } finally {
      clearTimeout(timer);
      // Never wait for a goodbye from a database that may not answer.
      if (client) closeConnectionNow(client);
    }
  }
}
