import { randomBytes } from 'node:crypto';
import { startBuiltServer, type BuiltServer } from './built-server.js';
import type { Cleanup } from './cleanup.js';
import type { BenchPostgres } from './postgres.js';
import { ServerApi } from './server-api.js';

/** Keys of one benchmark run: encryption on, so every credential read decrypts. */
export interface BenchKeys {
  secretKey: string;
  encryptionKey: string;
}

export function freshKeys(): BenchKeys {
  return { secretKey: randomBytes(16).toString('hex'), encryptionKey: randomBytes(32).toString('base64') };
}

/** The built server on the benchmark's PostgreSQL (NANGO_DATABASE_URL), with a secret key and an encryption key. */
export async function startServerOnDatabase(
  options: { database: BenchPostgres; keys: BenchKeys; providersFile: string; cwd: string; logLevel: string; env?: Record<string, string> },
  cleanup: Cleanup,
): Promise<{ server: BuiltServer; api: ServerApi }> {
  const server = await startBuiltServer(
    {
      cwd: options.cwd,
      logLevel: options.logLevel,
      env: {
        NANGO_DATABASE_URL: options.database.url,
        NANGO_SECRET_KEY: options.keys.secretKey,
        NANGO_ENCRYPTION_KEY: options.keys.encryptionKey,
        NANGO_PROVIDERS_FILE: options.providersFile,
        ...options.env,
      },
    },
    cleanup,
  );
  return { server, api: new ServerApi(server.baseUrl, options.keys.secretKey) };
}
