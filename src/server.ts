import dotenv from 'dotenv';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { Cipher } from './crypto/aes-gcm.js';
import { reconcileEncryption, rotateEncryptionKey } from './crypto/encryption-startup.js';
import { openDatabase, type Database } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { LOCK_IDS, withSessionLock, withSessionLockIfFree } from './db/session-lock.js';
import { createLogger, type Logger } from './logger.js';
import { isDatabaseUnavailable } from './plugins/error-rendering.js';
import { loadProviderCatalog } from './providers/provider-catalog.js';
import { EncryptionStateStore } from './store/encryption-state-store.js';
import { ConfigsStore } from './store/configs-store.js';
import { ConnectionsStore } from './store/connections-store.js';
import { Telemetry } from './custody/telemetry.js';
import { fanOut } from './services/server-signals.js';
import { VERSION } from './version.js';
import { authWebhookSignals } from './webhooks/auth-webhook-signals.js';
import { WebhookSender } from './webhooks/webhook-sender.js';

/**
 * Entry point: configuration → catalog → database → migrations and encryption (one process at a time)
 * → app → listen. SIGTERM/SIGINT drain in-flight requests, close the pool and stop an embedded database.
 */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const config = loadConfigOrExit();
  const log = createLogger(config.logLevel);
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'Unhandled promise rejection.'));

  const providers = loadProviderCatalog(config.providersFile);
  const cipher = config.encryptionKey ? new Cipher(config.encryptionKey, config.previousEncryptionKey ? [config.previousEncryptionKey] : []) : undefined;
  const database = await openDatabase(config.database, log);
  const encryptionState = new EncryptionStateStore(database.knex);
  let rotationPending = false;
  try {
    await retryWhileUnreachable(log, () =>
      withSessionLock(database.connection, LOCK_IDS.startup, async () => {
        const applied = await migrateToLatest(database.knex);
        if (applied.length > 0) log.info(`Database migrated: ${applied.join(', ')}.`);
        ({ rotationPending } = await reconcileEncryption(encryptionState, { cipher, previousKey: config.previousEncryptionKey }, log));
      }),
    );
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }

  if (!config.secretKey) {
    log.warn('NANGO_SECRET_KEY is not set: the API (/config, /connection, /proxy) is open to anyone who can reach this server. Set a secret key before exposing it.');
  }
  const telemetry = new Telemetry({
    enabled: config.telemetry,
    endpoint: config.telemetryEndpoint,
    version: VERSION,
    logger: log,
    counts: async () => ({ integrations: await new ConfigsStore(database.knex, undefined).count(), connections: await new ConnectionsStore(database.knex, undefined).count() }),
  });
  const webhooks = new WebhookSender({ url: config.webhook.url, signingKey: config.webhook.signingKey, logger: log });
  const app = await buildApp({
    config,
    knex: database.knex,
    cipher,
    providers,
    logger: log,
    databaseConnection: database.connection,
    signals: fanOut([telemetry, authWebhookSignals(webhooks)]),
  });
  await app.listen({ port: config.port, host: '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info(
    { port, callbackUrl: config.callbackUrl },
    `✅ Server listening on port ${port} (${config.serverUrl}). Register this OAuth callback URL with each provider: ${config.callbackUrl}. Data: ${database.description}.`,
  );
  telemetry.serverStarted(config.database.kind, cipher !== undefined);
  stopOnSignals(async () => {
    await app.close();
    // close, not drain: a dead receiver must not hold the shutdown for the whole retry schedule.
    await webhooks.close();
    await telemetry.drain();
  }, database, log);
  if (rotationPending && cipher) {
    // One process re-encrypts; the others read with both keys meanwhile. A killed run resumes at the next start.
    void withSessionLockIfFree(database.connection, LOCK_IDS.keyRotation, () => rotateEncryptionKey(encryptionState, cipher, log)).catch((error: unknown) =>
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

function stopOnSignals(closeApp: () => Promise<void>, database: Database, log: Logger): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      log.warn(`${signal} received again; exiting without waiting.`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal} received: finishing in-flight requests, then stopping.`);
    try {
      await closeApp();
      await database.close();
      log.info('Stopped cleanly.');
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, 'Error while stopping.');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
}

main().catch((error: unknown) => {
  process.stderr.write(`Cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
