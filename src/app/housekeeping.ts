import type { Container } from './container.js';

const PRUNE_EVERY_MS = 6 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The work the server does beside requests: when the app is ready, expired OAuth and connect sessions and
 * OAuth results no page took are deleted and the audit log is pruned to NANGO_AUDIT_RETENTION_DAYS; the pruning then runs every six hours.
 * The clock-drift watch compares this process's clock with PostgreSQL's at start and every ten minutes.
 */
export class Housekeeping {
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly container: Pick<Container, 'config' | 'logger' | 'now' | 'stores' | 'delivery' | 'clock'>) {}

  async start(): Promise<void> {
    const { stores, now, clock } = this.container;
    await clock.start();
    await stores.sessions.deleteExpired(now());
    await stores.connectSessions.deleteExpired(now());
    await this.container.delivery.deleteAbandoned();
    await this.pruneAuditLog();
    this.pruneTimer = setInterval(() => void this.pruneAuditLog().catch((error: unknown) => this.container.logger.warn({ err: error }, 'Pruning the audit log failed.')), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  stop(): void {
    clearInterval(this.pruneTimer);
    this.container.clock.stop();
  }

  private async pruneAuditLog(): Promise<void> {
    const cutoff = new Date(this.container.now().getTime() - this.container.config.auditRetentionDays * DAY_MS);
    await this.container.stores.auditLog.deleteOlderThan(cutoff);
  }
}
