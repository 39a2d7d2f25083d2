import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { Cipher } from '../../src/crypto/aes-gcm.js';
import { reconcileEncryption } from '../../src/crypto/encryption-startup.js';
import { createLogger } from '../../src/logger.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { loadProviderCatalog, type ProviderCatalog } from '../../src/providers/provider-catalog.js';
import { registerDashboardRoutes } from '../../src/routes/dashboard/dashboard-routes.js';
import { registerStaticWeb } from '../../src/routes/static-web.js';
import { ConnectSessionService } from '../../src/services/connect-session-service.js';
import { ConnectionService } from '../../src/services/connection-service.js';
import { IntegrationService } from '../../src/services/integration-service.js';
import { NO_SIGNALS } from '../../src/services/server-signals.js';
import { TokenRefresher } from '../../src/services/token-refresher.js';
import { AuditLogStore } from '../../src/store/audit-log-store.js';
import { ConfigsStore } from '../../src/store/configs-store.js';
import { ConnectSessionsStore } from '../../src/store/connect-sessions-store.js';
import { ConnectionsStore } from '../../src/store/connections-store.js';
import { EncryptionStateStore } from '../../src/store/encryption-state-store.js';
import type { TestDatabase } from './database.js';
import { buildTestApp, type TestApp } from './test-app.js';

/** Whether src/app.ts registers the dashboard and the web UI itself (then the ordinary test app has them). */
export const appWiresWeb = /registerStaticWeb\(/.test(readFileSync(path.join(PACKAGE_ROOT, 'src/app.ts'), 'utf8')) && /registerDashboardRoutes\(/.test(readFileSync(path.join(PACKAGE_ROOT, 'src/app.ts'), 'utf8'));

/**
 * The real app with the dashboard API and the web UI: `buildTestApp` once src/app.ts wires them, until then
 * the same app with them registered here before it is ready (its own service instances on the same database).
 */
export async function buildWebTestApp(database: TestDatabase, env: Record<string, string> = {}, options: { providers?: ProviderCatalog } = {}): Promise<TestApp> {
  if (appWiresWeb) return buildTestApp(database, env, options);
  const config = loadConfig({ NANGO_DATABASE_URL: database.url, LOG_LEVEL: 'debug', ...env });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const cipher = config.encryptionKey ? new Cipher(config.encryptionKey) : undefined;
  await reconcileEncryption(new EncryptionStateStore(database.knex), cipher, logger);
  const providers = options.providers ?? loadProviderCatalog(config.providersFile);
  const app = await buildApp({ config, knex: database.knex, cipher, providers, logger, databaseConnection: database.connection });
  const configs = new ConfigsStore(database.knex, cipher);
  const connectionsStore = new ConnectionsStore(database.knex, cipher);
  const auditLog = new AuditLogStore(database.knex);
  const now = () => new Date();
  const refresher = new TokenRefresher({ knex: database.knex, audit: auditLog, signals: NO_SIGNALS, connections: connectionsStore, providers, log: logger, callbackUrl: config.callbackUrl, providerTimeoutMs: 15_000 });
  await registerDashboardRoutes(app, {
    config,
    knex: database.knex,
    cipher,
    providers,
    integrations: new IntegrationService(configs, providers),
    connections: new ConnectionService(connectionsStore, configs, refresher),
    connectSessions: new ConnectSessionService(new ConnectSessionsStore(database.knex), configs, connectionsStore, config.publicConnectUrl, now),
    auditLog,
    now,
  });
  await registerStaticWeb(app, { config });
  await app.ready();
  return { app, config, logs, close: () => app.close() };
}

export function dashboardAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
