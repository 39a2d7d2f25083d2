import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { SCHEMA } from './database.js';

/** Our own bookkeeping table: an adopted Nango database keeps its `_nango_auth_migrations` untouched. */
export const MIGRATIONS_TABLE = '_custody_migrations';

/** `migrations/` from both `src/db` (tsx, tests) and `dist/src/db` (compiled). */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** `transaction: false` for a migration that runs short transactions of its own (knex reads it). */
  config?: { transaction?: boolean };
}

/**
 * Lists migrations by name without their extension, so a database migrated from the TypeScript sources
 * and later from the compiled JavaScript sees the same names.
 */
class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly dir: string) {}

  async getMigrations(): Promise<string[]> {
    return readdirSync(this.dir)
      .filter((file) => /^\d+_[\w-]+\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
      .sort();
  }

  getMigrationName(file: string): string {
    return file.replace(/\.(ts|js)$/, '');
  }

  async getMigration(file: string): Promise<MigrationModule> {
    return (await import(pathToFileURL(path.join(this.dir, file)).href)) as MigrationModule;
  }
}

export async function migrateToLatest(knex: Knex): Promise<string[]> {
  await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [SCHEMA]);
  const [, applied] = (await knex.migrate.latest({
    migrationSource: new DirectoryMigrationSource(MIGRATIONS_DIR),
    schemaName: SCHEMA,
    tableName: MIGRATIONS_TABLE,
  })) as [number, string[]];
  return applied;
}
