import { Writable } from 'node:stream';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { Cipher } from '../../src/crypto/aes-gcm.js';
import { reconcileEncryption } from '../../src/crypto/encryption-startup.js';
import { createLogger } from '../../src/logger.js';
import type { ProviderCatalog } from '../../src/providers/provider-catalog.js';
import { parseAllowedHosts } from '../../src/proxy/allowed-hosts.js';
import { DEFAULT_PROXY_TIMEOUT_MS, registerProxyRoutes } from '../../src/routes/proxy/proxy-routes.js';
import { ConnectionService } from '../../src/services/connection-service.js';
import { NO_SIGNALS } from '../../src/services/server-signals.js';
import { TokenRefresher } from '../../src/services/token-refresher.js';
import { AuditLogStore } from '../../src/store/audit-log-store.js';
import { ConfigsStore } from '../../src/store/configs-store.js';
import { ConnectionsStore } from '../../src/store/connections-store.js';
import { EncryptionStateStore } from '../../src/store/encryption-state-store.js';
import type { TestDatabase } from './database.js';
import type { TestApp } from './test-app.js';

/**
 * The real app with the proxy routes, like `buildTestApp`. While `buildApp` does not register the proxy
 * itself, they are registered here (before `ready()`), configured from the same environment variables the
 * server will read: NANGO_PROXY_TIMEOUT_MS and NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS. Once `buildApp`
 * registers them, this only builds the app.
 */
export async function buildProxyTestApp(database: TestDatabase, env: Record<string, string> = {}, options: { providers: ProviderCatalog }): Promise<TestApp> {
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
  const app = await buildApp({ config, knex: database.knex, cipher, providers: options.providers, logger, databaseConnection: database.connection, providerTimeoutMs: 2_000 });
  if (!app.hasRoute({ method: 'GET', url: '/proxy/*' })) {
    const connectionsStore = new ConnectionsStore(database.knex, cipher);
    const refresher = new TokenRefresher({
      knex: database.knex,
      audit: new AuditLogStore(database.knex),
      signals: NO_SIGNALS,
      connections: connectionsStore,
      providers: options.providers,
      log: logger,
      callbackUrl: config.callbackUrl,
      providerTimeoutMs: 2_000,
    });
    await registerProxyRoutes(app, {
      connections: new ConnectionService(connectionsStore, new ConfigsStore(database.knex, cipher), refresher),
      providers: options.providers,
      secretKey: config.secretKey,
      allowedBaseUrlOverrideHosts: parseAllowedHosts(env['NANGO_PROXY_BASE_URL_OVERRIDE_ALLOWED_HOSTS']),
      timeoutMs: env['NANGO_PROXY_TIMEOUT_MS'] ? Number(env['NANGO_PROXY_TIMEOUT_MS']) : DEFAULT_PROXY_TIMEOUT_MS,
      logger,
    });
  }
  await app.ready();
  return { app, config, logs, close: () => app.close() };
}
