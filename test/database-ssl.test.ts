import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../src/db/embedded-postgres.js';
import { createLogger } from '../src/logger.js';
import { startServer, type RunningServer } from './support/server-run.js';

/**
 * NANGO_DB_SSL=true: the server talks TLS to an external PostgreSQL (managed databases require it), in both
 * spellings of the connection settings. The database here is a real PostgreSQL with TLS switched on and a
 * self-signed certificate, as managed databases often present.
 */
const opensslAvailable = existsSync('/usr/bin/openssl');

describe.skipIf(!opensslAvailable)('an external PostgreSQL that speaks TLS', () => {
  let root: string;
  let cluster: EmbeddedCluster;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'custody-ssl-'));
    chmodSync(root, 0o755);
    cluster = await startEmbeddedPostgres(path.join(root, 'data'), createLogger('silent'));
    const clusterDir = path.join(root, 'data', 'postgres');
    const keyFile = path.join(clusterDir, 'server.key');
    const certFile = path.join(clusterDir, 'server.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    // PostgreSQL reads the key only when its own OS user owns it and nobody else may read it.
    const owner = statSync(clusterDir);
    for (const file of [keyFile, certFile]) chownSync(file, owner.uid, owner.gid);
    chmodSync(keyFile, 0o600);
    await withClient({}, async (client) => {
      await client.query(`ALTER SYSTEM SET ssl = on`);
      await client.query(`SELECT pg_reload_conf()`);
    });
  }, 120_000);

  afterAll(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    await cluster?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  async function withClient<T>(extra: pg.ClientConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...cluster.connection, ...extra });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** How many of the server's connections to the `nango` database use TLS, and how many do not. */
  async function serverConnections(): Promise<{ tls: number; plain: number }> {
    return withClient({ database: 'postgres' }, async (client) => {
      const result = await client.query<{ ssl: boolean; n: string }>(
        `SELECT s.ssl, count(*) AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'nango' AND a.pid <> pg_backend_pid() GROUP BY s.ssl`,
      );
      const count = (ssl: boolean) => Number(result.rows.find((row) => row.ssl === ssl)?.n ?? 0);
      return { tls: count(true), plain: count(false) };
    });
  }

  async function startWith(env: Record<string, string>): Promise<RunningServer> {
    const server = await startServer({ ...env, TELEMETRY: 'false', NANGO_DB_POOL_MIN: '2' });
    servers.push(server);
    expect((await fetch(`${server.baseUrl}/config`)).status).toBe(200);
    return server;
  }

  it('connects over TLS with NANGO_DB_HOST and NANGO_DB_SSL=true', async () => {
    const { host, port, user, password, database } = cluster.connection;
    const server = await startWith({
      NANGO_DB_HOST: String(host),
      NANGO_DB_PORT: String(port),
      NANGO_DB_USER: String(user),
      NANGO_DB_PASSWORD: String(password),
      NANGO_DB_NAME: String(database),
      NANGO_DB_SSL: 'true',
    });
    const connections = await serverConnections();
    expect(connections.tls).toBeGreaterThan(0);
    expect(connections.plain).toBe(0);
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 120_000);

  it('connects over TLS with NANGO_DATABASE_URL and NANGO_DB_SSL=true', async () => {
    const { host, port, user, password, database } = cluster.connection;
    const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@${host}:${port}/${database}`;
    const server = await startWith({ NANGO_DATABASE_URL: url, NANGO_DB_SSL: 'true' });
    const connections = await serverConnections();
    expect(connections.tls).toBeGreaterThan(0);
    expect(connections.plain).toBe(0);
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 120_000);
});
