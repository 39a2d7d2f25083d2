import type { RetentionOutcome } from '../store/audit-partitions.js';
import type { Container } from './container.js';

const PRUNE_EVERY_MS = 6 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The work the server does beside requests: when the app is ready, expired OAuth and connect sessions and
 * OAuth results no page took are deleted, the audit log's day partitions for the coming week are created and the
 * days older than NANGO_AUDIT_RETENTION_DAYS dropped; the audit log's part then runs every six hours.
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

  private async pruneAuditLog(): Promise<RetentionOutcome> {
    const { config, logger, now, stores } = this.container;
    await stores.auditLog.partitions.createAhead(now());
    const outcome = await stores.auditLog.partitions.dropOlderThan(new Date(now().getTime() - config.auditRetentionDays * DAY_MS));
    if (outcome.postponed.length > 0) {
      logger.warn(
        { partitions: outcome.postponed },
        'Some audit log days past NANGO_AUDIT_RETENTION_DAYS were kept for now: a long query held the audit table. They are dropped on the next run, in six hours.',
      );
    }
    return outcome;
  }
}
