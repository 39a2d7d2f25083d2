import path from 'node:path';
import type pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createLogger } from '../../src/logger.js';
import type { Cleanup } from './cleanup.js';
import { guardCluster } from './exit-guard.js';
import { makeTempDir } from './temp-dir.js';

/** A PostgreSQL of the benchmark's own (the server's embedded lifecycle, in a temporary folder). */
export interface BenchPostgres {
  connection: pg.ClientConfig;
  /** postgres://… for NANGO_DATABASE_URL and the floor process. */
  url: string;
}

export async function startBenchPostgres(cleanup: Cleanup): Promise<BenchPostgres> {
  const dataDir = path.join(makeTempDir('pg', cleanup), 'data');
  const release = guardCluster(path.join(dataDir, 'postgres'));
  const cluster = await startEmbeddedPostgres(dataDir, createLogger('silent'));
  cleanup.add('the benchmark PostgreSQL', async () => {
    await cluster.stop();
    release();
  });
  const { host, port, user, password, database } = cluster.connection;
  const url = `postgres://${encodeURIComponent(String(user))}:${encodeURIComponent(String(password))}@${String(host)}:${String(port)}/${String(database)}`;
  return { connection: cluster.connection, url };
}
