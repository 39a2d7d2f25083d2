import path from 'node:path';
import dotenv from 'dotenv';
import { buildApp } from './app/build-app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { Cipher } from './crypto/aes-gcm.js';
import { reconcileEncryption, rotateEncryptionKey } from './crypto/encryption-startup.js';
import { openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { LOCK_IDS, withAdvisoryLock, withAdvisoryLockIfFree } from './db/advisory-lock.js';
import { poolingNotice } from './db/pooler.js';
import { createLogger, type Logger } from './logger.js';
import { DRAIN_TIMES, HttpDrain, ServerLifecycle } from './server-drain.js';
import { ServerShutdown } from './server-shutdown.js';
import { openLogOutput } from './log-format.js';
import { securityNotices, welcomeNotices, type SecretKeySource } from './startup-notices.js';
import { isDatabaseUnavailable } from './db/database-unavailable.js';
import { trustProxyWarning } from './plugins/trust-proxy.js';
import { loadProviderCatalog } from './providers/provider-catalog.js';
import { EncryptionStateStore } from './store/encryption-state-store.js';
import { ConfigsStore } from './store/configs-store.js';
import { ConnectionsStore } from './store/connections-store.js';
import { Telemetry } from './custody/telemetry.js';
import { VERSION } from './version.js';

/**
 * Entry point: configuration → catalog → database → migrations and encryption (one process at a time)
 * → app → listen. SIGTERM/SIGINT drain in-flight requests (src/server-drain.ts), close the pool and stop an
 * embedded database.
 */

async function main(): Promise<void> {
  const keyInEnvironment = Boolean(process.env['NANGO_SECRET_KEY']?.trim());
  const dotenvFile = dotenv.config({ quiet: true });
  const config = loadConfigOrExit();
  const logOutput = await openLogOutput(config.logFormat, process.stdout.isTTY === true);
  const log = createLogger(config.logLevel, logOutput.destination);
  if (logOutput.notice) log.warn(logOutput.notice);
  const secretKeySource: SecretKeySource | undefined = !config.secretKey
    ? undefined
    : keyInEnvironment || !dotenvFile.parsed?.['NANGO_SECRET_KEY']
      ? { from: 'environment' }
      : { from: 'file', path: path.resolve('.env') };
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'Unhandled promise rejection.'));

  const graceMs = config.shutdownGraceSeconds * 1000;
  // Past the drain's own bounds, a stop that still waits (a database that stopped answering) exits anyway.
  const shutdown = new ServerShutdown(log, { stopDeadlineMs: graceMs + Math.max(DRAIN_TIMES.requestsMs, DRAIN_TIMES.popupsMs) + 1_500 });
  const lifecycle = new ServerLifecycle();

  const providers = loadProviderCatalog(config.providersFile);
  const cipher = config.encryptionKey ? new Cipher(config.encryptionKey, config.previousEncryptionKey ? [config.previousEncryptionKey] : []) : undefined;
  const database = await shutdown.step(
    'database',
    () => openDatabase(config.database, config.databaseTimeouts, log, (error) => void shutdown.fail(error.message), config.databasePooling),
    (opened) => opened.close(),
  );
  if (database.pooling) {
    const notice = poolingNotice(database.pooling, config.connectionCacheSize);
    log[notice.level](notice.message);
  }
  // Migrations, encrypting existing rows and rotation may take long: the pool without statement limits.
  const encryptionState = new EncryptionStateStore(database.maintenanceKnex);
  let rotationPending = false;
  try {
    await shutdown.step(
      'migrations',
      () =>
        retryWhileUnreachable(log, () =>
          withAdvisoryLock(database.sessionConnection, LOCK_IDS.startup, async () => {
            const applied = await migrateToLatest(database.maintenanceKnex);
            if (applied.length > 0) log.info(`Database migrated: ${applied.join(', ')}.`);
            ({ rotationPending } = await reconcileEncryption(encryptionState, { cipher, previousKey: config.previousEncryptionKey }, log));
          }, () => log.info('Another process is migrating the database; waiting for it.')),
        ),
      async () => undefined,
    );
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }

  for (const notice of securityNotices(config)) log[notice.level](notice.message);
  const trustWarning = trustProxyWarning(config.trustProxy);
  if (trustWarning) log.warn(trustWarning);
  const telemetry = new Telemetry({
    enabled: config.telemetry,
    endpoint: config.telemetryEndpoint,
    version: VERSION,
    logger: log,
    counts: async () => ({ integrations: await new ConfigsStore(database.knex, undefined).count(), connections: await new ConnectionsStore(database.knex, undefined).count() }),
  });
  const app = await buildApp({
    config,
    knex: database.knex,
    cipher,
    providers,
    logger: log,
    databaseConnection: database.connection,
    databaseListenConnection: database.listenConnection ?? null,
    // Auth webhooks are the app's own (buildApp), closed with it.
    signals: telemetry,
    lifecycle,
  });
  const drain = new HttpDrain(app.server, lifecycle, log);
  await shutdown.step(
    'http server',
    () => app.listen({ port: config.port, host: config.host }),
    async () => {
      await drain.drain({ graceMs, ...DRAIN_TIMES }, () => app.close());
      await telemetry.drain();
    },
  );
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info(
    { port, callbackUrl: config.callbackUrl },
    `✅ Server listening on port ${port} (${config.serverUrl}). Register this OAuth callback URL with each provider: ${config.callbackUrl}. Data: ${database.description}.`,
  );
  for (const notice of welcomeNotices(config, port, secretKeySource)) log[notice.level](notice.message);
  telemetry.serverStarted(config.database.kind, cipher !== undefined);
  if (rotationPending && cipher) {
    // One process re-encrypts; the others read with both keys meanwhile. A killed run resumes at the next start.
    void withAdvisoryLockIfFree(database.sessionConnection, LOCK_IDS.keyRotation, () => rotateEncryptionKey(encryptionState, cipher, log)).catch((error: unknown) =>
      log.error({ err: error }, 'The encryption key rotation stopped; it resumes at the next start.'),
    );
  }
}

/**
 * The database answered once, but a container network may still hiccup (a name lookup failing for a few
 * seconds): retry the start-up step on errors that mean "not reachable", a bounded number of times.
 */
async function retryWhileUnreachable<T>(log: Logger, step: () => Promise<T>): Promise<T> {
  const attempts = 10;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts || !isDatabaseUnavailable(error)) throw error;
      log.warn(`The database is not reachable during start-up (${(error as { code?: string }).code ?? (error as Error).message}); attempt ${attempt} of ${attempts}, retrying in 2 s.`);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

function loadConfigOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`Cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
