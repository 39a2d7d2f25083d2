import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { buildApp, type AppDeps } from '../../src/app/build-app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { Cipher } from '../../src/crypto/aes-gcm.js';
import { reconcileEncryption } from '../../src/crypto/encryption-startup.js';
import { createLogger } from '../../src/logger.js';
import { loadProviderCatalog, type ProviderCatalog } from '../../src/providers/provider-catalog.js';
import { EncryptionStateStore } from '../../src/store/encryption-state-store.js';
import type { TestDatabase } from './database.js';
import { noteEnvironmentSecrets, noteLog } from './secret-watch.js';
import { TestResolver } from './test-resolver.js';

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  /** Every log line the app wrote, as text, for assertions about what is (not) logged. */
  logs: string[];
  close(): Promise<void>;
}

let sharedCatalog: ProviderCatalog | undefined;

/**
 * The real app on a test database, configured through the same environment parsing as the server.
 * `env` holds the variables a test sets (NANGO_SECRET_KEY, NANGO_ENCRYPTION_KEY, …).
 */
export async function buildTestApp(
  database: TestDatabase,
  env: Record<string, string> = {},
  options: Pick<AppDeps, 'providerTimeoutMs' | 'now' | 'hostResolver' | 'extraTrustedCertificates'> & {
    providers?: ProviderCatalog;
    /**
     * Specs write rows with plain SQL (a reset before each test, an expired token) and then expect the server to
     * see them, as a request arriving after the change's notification would. By default each request first waits
     * until the app has heard of every change committed before it. The connection-cache spec turns this off to
     * watch the notifications themselves.
     */
    waitForChangeNotifications?: boolean;
  } = {},
): Promise<TestApp> {
  // Specs refuse many requests on purpose from one address; the auth-failure limit has its own spec and is off here unless a test sets it.
  // The token keeper is off unless a spec turns it on: a sweep in the middle of another spec's refresh would change what it sees.
  const settings = { NANGO_DATABASE_URL: database.url, LOG_LEVEL: 'debug', NANGO_AUTH_FAILURE_LIMIT: '0', NANGO_REFRESH_SWEEP_SECONDS: '0', ...env };
  noteEnvironmentSecrets(`test app on ${database.name}`, settings);
  const config = loadConfig(settings);
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
  const providers = options.providers ?? (config.providersFile ? loadProviderCatalog(config.providersFile) : (sharedCatalog ??= loadProviderCatalog()));
  const app = await buildApp({
    config,
    knex: database.knex,
    cipher,
    providers,
    logger,
    databaseConnection: database.connection,
    ...(options.providerTimeoutMs !== undefined ? { providerTimeoutMs: options.providerTimeoutMs } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.extraTrustedCertificates ? { extraTrustedCertificates: options.extraTrustedCertificates } : {}),
    // Specs never resolve real names: only `localhost` and the names a spec sets resolve.
    hostResolver: options.hostResolver ?? new TestResolver().resolve,
  });
  if (options.waitForChangeNotifications ?? true) app.addHook('onRequest', async () => app.databaseNotifications.sync());
  await app.ready();
  return {
    app,
    config,
    logs,
    close: async () => {
      await app.close();
      noteLog(`test app on ${database.name}`, logs.join(''));
    },
  };
}

/** `Authorization` header values for a secret key, in both accepted schemes. */
export function basicAuth(key: string): string {
  return `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
}

export function bearerAuth(key: string): string {
  return `Bearer ${key}`;
}

/** Starts the app listening on a free loopback port (or `port`), for SDKs, browsers and raw sockets; returns its base URL. */
export async function listenOnLoopback(test: TestApp, port = 0): Promise<string> {
  await test.app.listen({ port, host: '127.0.0.1' });
  return `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
}

/**
 * For spec files that build several apps on one database, each with its own settings over common ones: `appWith`
 * builds one, `closeAll` closes every app built (call it in afterAll, before the database is dropped).
 */
export function appsOn(database: () => TestDatabase, common: Record<string, string>): { appWith(env?: Record<string, string>): Promise<TestApp>; closeAll(): Promise<void> } {
  const apps: TestApp[] = [];
  return {
    appWith: async (env = {}) => {
      const app = await buildTestApp(database(), { ...common, ...env });
      apps.push(app);
      return app;
    },
    closeAll: async () => {
      await Promise.all(apps.map((app) => app.close()));
    },
  };
}
