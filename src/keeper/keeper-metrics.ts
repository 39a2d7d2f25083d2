import { Counter, Gauge, type Registry } from 'prom-client';
import type { KeeperRefreshResult } from '../services/token-refresher.js';
import type { HealthCounts } from '../store/refresh-claims-store.js';
import type { KeeperObserver } from './token-keeper.js';

/** The health counts are one pass over the connections table: a scrape reuses them for this long. */
const HEALTH_COUNTS_TTL_MS = 30_000;

/**
 * The keeper's Prometheus metrics: connections by health (counted in the database, so every process reports the
 * same), the keeper's refreshes by outcome, and its lag (how late the earliest due connection was at the last sweep).
 */
export class KeeperMetrics implements KeeperObserver {
  private readonly refreshes: Counter<'outcome'>;
  private readonly lag: Gauge;
  private readonly due: Gauge;
  private cached: { at: number; counts: HealthCounts } | undefined;

  constructor(registry: Registry, healthCounts: () => Promise<HealthCounts>) {
    this.refreshes = new Counter({ name: 'custody_keeper_refreshes_total', help: 'Refreshes made by the token keeper, by outcome (refreshed, failed, gave_up, skipped: done meanwhile by a read or another process, error: database)', labelNames: ['outcome'], registers: [registry] });
    this.lag = new Gauge({ name: 'custody_keeper_lag_seconds', help: 'How late the earliest due connection was when the last sweep started', registers: [registry] });
    this.due = new Gauge({ name: 'custody_keeper_due_connections', help: 'Connections due before the next sweep, when the last sweep started', registers: [registry] });
    const readCounts = (): Promise<HealthCounts> => this.healthCounts(healthCounts);
    new Gauge({
      name: 'custody_connections_by_health',
      help: 'Connections by health: healthy, refresh_failed, given_up, expired (cannot be renewed)',
      labelNames: ['health'],
      registers: [registry],
      async collect() {
        const counts = await readCounts();
        const unhealthy = counts.refresh_failed + counts.given_up + counts.expired;
        this.set({ health: 'healthy' }, counts.total - unhealthy);
        this.set({ health: 'refresh_failed' }, counts.refresh_failed);
        this.set({ health: 'given_up' }, counts.given_up);
        this.set({ health: 'expired' }, counts.expired);
      },
    });
  }

  sweepStarted(due: number, lagSeconds: number): void {
    this.due.set(due);
    this.lag.set(lagSeconds);
  }

  refreshFinished(result: KeeperRefreshResult | 'error'): void {
    this.refreshes.inc({ outcome: result });
  }

  private async healthCounts(read: () => Promise<HealthCounts>): Promise<HealthCounts> {
    if (this.cached && Date.now() - this.cached.at < HEALTH_COUNTS_TTL_MS) return this.cached.counts;
    const counts = await read();
    this.cached = { at: Date.now(), counts };
    return counts;
  }
}
