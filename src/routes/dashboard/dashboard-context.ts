import type { Config } from '../../config.js';
import type { ClockDrift } from '../../custody/clock-drift.js';
import type { ProviderCatalog } from '../../providers/provider-catalog.js';
import type { ConnectSessionService } from '../../services/connect-session-service.js';
import type { ConnectionService } from '../../services/connection-service.js';
import type { IntegrationService } from '../../services/integration-service.js';
import type { AuditLogStore } from '../../store/audit-log-store.js';
import type { DashboardStore } from '../../store/dashboard-store.js';

/** What the `/api/v1/*` handlers share. */
export interface DashboardContext {
  config: Config;
  providers: ProviderCatalog;
  integrations: IntegrationService;
  connections: ConnectionService;
  connectSessions: ConnectSessionService;
  auditLog: AuditLogStore;
  /** The dashboard's own read queries (lists with counts and refresh state). */
  store: DashboardStore;
  now: () => Date;
  /** This process's clock against the database's and providers' (src/custody/clock-drift.ts). */
  clock: ClockDrift;
}
