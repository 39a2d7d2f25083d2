import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createKnex } from '../../src/db/database.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/db/embedded-postgres.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';

/** The migrated database every test file copies its own database from. */
export const TEMPLATE_DATABASE = 'custody_template';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { host: string; port: number; user: string; password: string; templateDatabase: string };
    /** This run's temporary folder: fixtures put their files here, and it is removed when the run ends. */
    scratchRoot: string;
  }
}

let cluster: EmbeddedCluster | undefined;
let scratchRoot: string | undefined;

/** One real PostgreSQL for the whole run (the server's own embedded lifecycle), with a migrated template database. */
export async function setup(project: TestProject): Promise<void> {
  // Everything of this run starts empty (the secret watch included: a rerun would otherwise search old logs).
  const provided = project.getProvidedContext();
  scratchRoot = provided.scratchRoot;
  rmSync(scratchRoot, { recursive: true, force: true });
  mkdirSync(provided.secretWatchDir, { recursive: true });
  // As root the database runs as its own OS user, which must be able to enter the folder.
  chmodSync(scratchRoot, 0o755);
  cluster = await startEmbeddedPostgres(path.join(scratchRoot, 'postgres'), createLogger('silent'));
  const admin = new pg.Client({ ...cluster.connection, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  const knex = createKnex({ ...cluster.connection, database: TEMPLATE_DATABASE }, 0, 2);
  await migrateToLatest(knex);
  await knex.destroy();
  const { host, port, user, password } = cluster.connection;
  project.provide('postgres', { host: String(host), port: Number(port), user: String(user), password: String(password), templateDatabase: TEMPLATE_DATABASE });
}

/** Runs when the whole run ends, after the secret search of the last project too. */
export async function teardown(): Promise<void> {
  await cluster?.stop();
  if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true });
}
