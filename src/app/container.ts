import type { Knex } from 'knex';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import { ClockDrift } from '../custody/clock-drift.js';
import { ServerMetrics } from '../custody/metrics.js';
import { DatabaseProbe } from '../db/database-probe.js';
import { NotificationListener } from '../db/notification-listener.js';
import type { Logger } from '../logger.js';
import { ConnectionHosts } from '../net/connection-hosts.js';
import { OutboundHostGuard, type HostResolver } from '../net/outbound-host-guard.js';
import { ResultDelivery } from '../oauth/result-delivery.js';
import { SocketAdmission } from '../oauth/socket-admission.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import type { ServerLifecycle } from '../server-drain.js';
import { ConnectAuthorizer } from '../services/connect-authorizer.js';
import { ConnectSessionService } from '../services/connect-session-service.js';
import { ConnectionService } from '../services/connection-service.js';
import { CredentialConnectService } from '../services/credential-connect-service.js';
import { IntegrationService } from '../services/integration-service.js';
import { OAuthFlowService } from '../services/oauth-flow-service.js';
import { fanOut, type ServerSignals } from '../services/server-signals.js';
import { TokenRefresher } from '../services/token-refresher.js';
import { buildTokenKeeper } from '../keeper/keeper-startup.js';
import { RefreshSchedule } from '../keeper/refresh-schedule.js';
import { AccountsStore } from '../store/accounts-store.js';
import { AuditLogStore } from '../store/audit-log-store.js';
import { ConfigsStore } from '../store/configs-store.js';
import { ConnectSessionsStore } from '../store/connect-sessions-store.js';
import { ConnectionCache } from '../store/connection-cache.js';
import { ConnectionsStore, type SealedConnection } from '../store/connections-store.js';
import { DashboardStore } from '../store/dashboard-store.js';
import { OAuthSessionsStore } from '../store/oauth-sessions-store.js';
import { authWebhookSignals } from '../webhooks/auth-webhook-signals.js';
import { WebhookSender } from '../webhooks/webhook-sender.js';

export interface AppDeps {
  config: Config;
  knex: Knex;
  cipher: Cipher | undefined;
  providers: ProviderCatalog;
  logger: Logger;
  /** Connection settings for clients of its own: the readiness probe, and LISTEN unless `databaseListenConnection` says otherwise. */
  databaseConnection?: pg.ClientConfig;
  /**
   * Where LISTEN goes when that is not `databaseConnection`: the direct connection behind a transaction pooler,
   * or null when there is none (the connection cache is then off and OAuth results are polled for).
   */
  databaseListenConnection?: pg.ClientConfig | null;
  /** How long a provider's token endpoint may take before the flow or refresh fails (default 15 s). */
  providerTimeoutMs?: number;
  now?: () => Date;
  /** More listeners for what services announce (telemetry); metrics and auth webhooks the app wires itself. */
  signals?: Partial<ServerSignals>;
  /** What host names of connections resolve to (default: the operating system's resolver); tests decide it here. */
  hostResolver?: HostResolver;
  /**
   * Certificate authorities trusted beside Node's own on calls that present a client certificate: how specs trust
   * their local stand-in's CA. Not a setting: operators use Node's NODE_EXTRA_CA_CERTS (docs/security.md).
   */
  extraTrustedCertificates?: string[];
  /** Whether the process has been told to stop (GET /ready then answers 503); src/server-drain.ts. */
  lifecycle?: ServerLifecycle;
}

/** Everything the route families use, built once per app: the process's clock, its outside connections, the stores and the services. */
export type Container = ReturnType<typeof buildContainer>;

/** Builds the stores and services; no I/O happens here (the LISTEN connection starts when the app is ready). */
export function buildContainer(deps: AppDeps) {
  const { config, knex, cipher, providers, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const providerTimeoutMs = deps.providerTimeoutMs ?? 15_000;

  // One LISTEN connection for the process: OAuth results from other processes, and changes to connections.
  const listenConnection = deps.databaseListenConnection === undefined ? deps.databaseConnection : (deps.databaseListenConnection ?? undefined);
  const notifications = new NotificationListener(listenConnection, logger);
  const connectionCache = new ConnectionCache<SealedConnection>(config.connectionCacheSize);
  connectionCache.follow(notifications);
  // Every call to a host a connection chose goes through this guard (NANGO_CONNECTION_HOSTS_ALLOWED).
  const hosts = new ConnectionHosts(new OutboundHostGuard(config.connectionHostsAllowed, deps.hostResolver, logger), logger, deps.extraTrustedCertificates);

  const configs = new ConfigsStore(knex, cipher, connectionCache);
  // Connections are scheduled for the token keeper as they are written (src/keeper/refresh-schedule.ts).
  const connectionsStore = new ConnectionsStore(knex, cipher, connectionCache, new RefreshSchedule(config.keeper, now));
  const sessions = new OAuthSessionsStore(knex, cipher);
  const connectSessions = new ConnectSessionsStore(knex);
  // Group inserts of audit entries may use every pooled connection but one, which stays for other statements.
  const auditLog = new AuditLogStore(knex, config.auditSynchronousCommit, Math.max(1, config.database.poolMax - 1));
  const dashboard = new DashboardStore(knex, cipher);

  // Services announce what happened; metrics, auth webhooks (wired here, so every test app sends them) and the caller's listeners hear it.
  const metrics = new ServerMetrics();
  const webhooks = new WebhookSender({ url: config.webhook.url, signingKey: config.webhook.signingKey, logger });
  const webhookSignals = authWebhookSignals(webhooks, (providerConfigKey, connectionId) => connectionsStore.webhookUrlOverride(providerConfigKey, connectionId));
  const signals = fanOut([metrics, webhookSignals, ...(deps.signals ? [deps.signals] : [])]);
  // This process's clock against PostgreSQL's and providers' (log, /metrics, the dashboard's Settings page).
  const clock = new ClockDrift(knex, logger, metrics.registry, now);

  const integrations = new IntegrationService(configs, providers, signals);
  const refresher = new TokenRefresher({
    knex,
    audit: auditLog,
    signals,
    connections: connectionsStore,
    providers,
    hosts,
    log: logger,
    callbackUrl: config.callbackUrl,
    providerTimeoutMs,
    databaseTimeouts: config.databaseTimeouts,
    now,
  });
  const keeper = buildTokenKeeper({ config, knex, configs, refresher, registry: metrics.registry, logger, providerTimeoutMs, now });
  const connections = new ConnectionService({ knex, connections: connectionsStore, configs, audit: auditLog, signals, refresher });
  const authorizer = new ConnectAuthorizer(config, connectSessions, new AccountsStore(knex), now);
  const delivery = new ResultDelivery(knex, notifications, logger, new SocketAdmission(config));
  const flows = new OAuthFlowService({
    config,
    providers,
    configs,
    connections,
    sessions,
    authorizer,
    delivery,
    signals,
    hosts,
    log: logger,
    providerTimeoutMs,
    now,
  });
  const connectSessionService = new ConnectSessionService(connectSessions, configs, connectionsStore, config.publicConnectUrl, now);
  const credentialConnect = new CredentialConnectService({
    providers,
    configs,
    connections,
    authorizer,
    hosts,
    log: logger,
    callbackUrl: config.callbackUrl,
    providerTimeoutMs,
    now,
  });
  const probe = new DatabaseProbe(deps.databaseConnection ? { connection: deps.databaseConnection } : { knex });

  return {
    config,
    providers,
    logger,
    now,
    notifications,
    hosts,
    metrics,
    clock,
    webhooks,
    delivery,
    probe,
    keeper,
    lifecycle: deps.lifecycle,
    stores: { sessions, connectSessions, auditLog, dashboard },
    services: { integrations, connections, flows, connectSessions: connectSessionService, credentialConnect },
  };
}

/** Lets go of what the container holds open, once no request runs any more. */
export async function closeContainer(container: Container): Promise<void> {
  container.delivery.close();
  await container.notifications.close();
  // The proxy's audit entries still gathering go in before the database is closed.
  await container.stores.auditLog.flush();
  // close, not drain: a dead receiver must not hold the shutdown for the whole retry schedule.
  await container.webhooks.close();
  await container.hosts.close();
}
