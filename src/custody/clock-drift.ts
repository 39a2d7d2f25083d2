import type { Knex } from 'knex';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { PROVIDER_DATES, type ProviderDate } from '../oauth/provider-dates.js';

/** Beyond this, OAuth 1.0a timestamps, JWT lifetimes and token expiries start to go wrong. */
export const CLOCK_DRIFT_LIMIT_SECONDS = 30;
/** How often the database's clock is read after the check at start. */
const DATABASE_CHECK_INTERVAL_MS = 10 * 60 * 1000;
const CHECK_TIMEOUT_MS = 5_000;

export type ClockSource = 'database' | 'provider';

export interface ClockReading {
  /** The other clock minus this process's, in seconds: positive when this process is behind. */
  offsetSeconds: number;
  /** The database, or the provider host whose token answer carried the Date header. */
  peer: string;
  checkedAt: string;
}

/** What the dashboard's Settings page shows. */
export interface ClockStatus {
  limitSeconds: number;
  drifting: boolean;
  database: ClockReading | null;
  provider: ClockReading | null;
}

/**
 * Watches this process's clock against PostgreSQL's `now()` (at start, then every ten minutes) and against the
 * `Date` header of every provider token answer. When one of them is more than CLOCK_DRIFT_LIMIT_SECONDS away,
 * it logs one plain-English warning naming the offset and the fix (an NTP client), counts it in /metrics, and
 * the Settings page shows it; one more line when the clocks agree again. Readings never fail or delay a request.
 */
export class ClockDrift {
  private readonly readings = new Map<ClockSource, ClockReading>();
  private readonly drifting = new Set<ClockSource>();
  private readonly warnings: Counter<'source'>;
  private readonly offsets: Gauge<'source'>;
  private timer: NodeJS.Timeout | undefined;
  private readonly onProviderDate = (message: unknown): void => this.providerAnswered(message as ProviderDate);

  constructor(
    private readonly knex: Knex,
    private readonly log: Logger,
    registry: Registry,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.warnings = new Counter({ name: 'custody_clock_drift_warnings_total', help: `Times this process's clock was found more than ${CLOCK_DRIFT_LIMIT_SECONDS} s away from the database's or a provider's`, labelNames: ['source'], registers: [registry] });
    this.offsets = new Gauge({ name: 'custody_clock_offset_seconds', help: "The last measured offset of the database's or a provider's clock from this process's (positive: this process is behind)", labelNames: ['source'], registers: [registry] });
    for (const source of ['database', 'provider'] as const) this.warnings.inc({ source }, 0);
  }

  /** Checks the database now and every ten minutes, and listens to provider answers until `stop()`. */
  async start(): Promise<void> {
    PROVIDER_DATES.subscribe(this.onProviderDate);
    await this.checkDatabase();
    this.timer = setInterval(() => void this.checkDatabase(), DATABASE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    PROVIDER_DATES.unsubscribe(this.onProviderDate);
  }

  /** One reading of `now()`, compared with this process's clock halfway through the round trip. */
  async checkDatabase(): Promise<void> {
    try {
      const sent = this.now().getTime();
      // Bounded: the check at start must never hold the server back from listening.
      const result = (await this.knex.raw('SELECT now() AS now').timeout(CHECK_TIMEOUT_MS)) as { rows: { now: Date }[] };
      const received = this.now().getTime();
      const theirs = result.rows[0]?.now;
      if (!theirs) return;
      this.record('database', 'PostgreSQL', theirs.getTime() - (sent + received) / 2);
    } catch (error) {
      // The database being away is reported by the requests that need it; the next check will tell.
      this.log.debug({ err: error }, 'Could not read the database clock.');
    }
  }

  status(): ClockStatus {
    return {
      limitSeconds: CLOCK_DRIFT_LIMIT_SECONDS,
      drifting: this.drifting.size > 0,
      database: this.readings.get('database') ?? null,
      provider: this.readings.get('provider') ?? null,
    };
  }

  private providerAnswered(answer: ProviderDate): void {
    const theirs = Date.parse(answer.date);
    if (!Number.isFinite(theirs)) return;
    const received = this.now().getTime();
    // The header has whole seconds, cut when the answer was made: halfway through its second, halfway through the exchange.
    this.record('provider', answer.host, theirs + 500 - (received - answer.elapsedMs / 2));
  }

  private record(source: ClockSource, peer: string, offsetMs: number): void {
    const offsetSeconds = Math.round(offsetMs / 100) / 10;
    this.readings.set(source, { offsetSeconds, peer, checkedAt: this.now().toISOString() });
    this.offsets.set({ source }, offsetSeconds);
    const drifts = Math.abs(offsetSeconds) > CLOCK_DRIFT_LIMIT_SECONDS;
    if (drifts && !this.drifting.has(source)) {
      this.drifting.add(source);
      this.warnings.inc({ source });
      this.log.warn({ clockOffsetSeconds: offsetSeconds, clockPeer: peer }, driftWarning(source, peer, offsetSeconds));
    } else if (!drifts && this.drifting.delete(source)) {
      this.log.info(`This server's clock agrees with ${peerName(source, peer)} again (offset ${offsetSeconds} s).`);
    }
  }
}

function driftWarning(source: ClockSource, peer: string, offsetSeconds: number): string {
  const whose = source === 'database' ? 'this machine or the database server' : 'this machine';
  return (
    `This server's clock is ${describeOffset(offsetSeconds)} ${peerName(source, peer)}. More than ${CLOCK_DRIFT_LIMIT_SECONDS} s breaks OAuth 1.0a ` +
    `signatures and JWTs (GitHub App tokens) and makes token expiry times wrong. Run an NTP client (chrony, or systemd-timesyncd) on ${whose}.`
  );
}

function peerName(source: ClockSource, peer: string): string {
  return source === 'database' ? "PostgreSQL's (now())" : `the Date header of ${peer}'s token answer`;
}

function describeOffset(offsetSeconds: number): string {
  return `${Math.abs(offsetSeconds)} s ${offsetSeconds > 0 ? 'behind' : 'ahead of'}`;
}
