import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createLogger } from '../../src/logger.js';
import type { Cleanup } from './cleanup.js';
import { guardCluster, postmasterPid } from './exit-guard.js';
import { makeTempDir } from './temp-dir.js';

/** A PostgreSQL of the benchmark's own (the server's embedded lifecycle, in a temporary folder). */
export interface BenchPostgres {
  connection: pg.ClientConfig;
  /** postgres://… for NANGO_DATABASE_URL and the floor process. */
  url: string;
  /** The postmaster's pid now (the embedded lifecycle may restart it): the root of the cluster's processes, whose CPU the tables report. */
  postmasterPid: () => number | undefined;
}

export async function startBenchPostgres(cleanup: Cleanup, options: { countStatements?: boolean } = {}): Promise<BenchPostgres> {
  const dataDir = path.join(makeTempDir('pg', cleanup), 'data');
  const clusterDir = path.join(dataDir, 'postgres');
  const release = guardCluster(clusterDir);
  let cluster = await startEmbeddedPostgres(dataDir, createLogger('silent'));
  if (options.countStatements) {
    // pg_stat_statements must be loaded at start: set it, then start the cluster again.
    const client = new pg.Client(cluster.connection);
    await client.connect();
    await client.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`).finally(() => client.end());
    await cluster.stop();
    cluster = await startEmbeddedPostgres(dataDir, createLogger('silent'));
    const again = new pg.Client(cluster.connection);
    await again.connect();
    await again.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').finally(() => again.end());
  }
  const started = cluster;
  cleanup.add('the benchmark PostgreSQL', async () => {
    await started.stop();
    release();
  });
  const { host, port, user, password, database } = started.connection;
  const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@${String(host)}:${String(port)}/${String(database)}`;
  return { connection: cluster.connection, url, postmasterPid: () => postmasterPid(clusterDir) };
}
