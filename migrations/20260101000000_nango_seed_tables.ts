import type { Knex } from 'knex';

/**
 * The tables of Nango v0.16 (schema `nango`), in its layout, so that a database Nango created opens unchanged.
 * A table that exists is adopted: only the columns it lacks are added. A fresh database gets them all.
 */
const SCHEMA = 'nango';

type ColumnAdder = (table: Knex.CreateTableBuilder) => void;

interface TableSpec {
  name: string;
  columns: Record<string, ColumnAdder>;
  /** Constraints that only a fresh table gets; an adopted table already has Nango's own. */
  onCreate?: (table: Knex.CreateTableBuilder) => void;
}

function tables(knex: Knex): TableSpec[] {
  const timestamps: Record<string, ColumnAdder> = {
    created_at: (t) => t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now()),
    updated_at: (t) => t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now()),
  };
  return [
  {
    name: '_nango_accounts',
    columns: {
      id: (t) => t.increments('id').primary(),
      ...timestamps,
      secret_key: (t) => t.string('secret_key').notNullable().defaultTo(knex.raw('gen_random_uuid()::text')),
      public_key: (t) => t.uuid('public_key').notNullable().defaultTo(knex.raw('gen_random_uuid()')),
      callback_url: (t) => t.text('callback_url'),
      owner_id: (t) => t.integer('owner_id').defaultTo(0),
      name: (t) => t.string('name').defaultTo('My Organization'),
      secret_key_iv: (t) => t.string('secret_key_iv'),
      secret_key_tag: (t) => t.string('secret_key_tag'),
    },
    onCreate: (t) => {
      t.unique(['secret_key']);
      t.unique(['public_key']);
    },
  },
  {
    name: '_nango_users',
    columns: {
      id: (t) => t.increments('id').primary(),
      ...timestamps,
      name: (t) => t.string('name'),
      email: (t) => t.string('email'),
      hashed_password: (t) => t.string('hashed_password'),
      salt: (t) => t.string('salt'),
      account_id: (t) => t.integer('account_id').defaultTo(0),
      reset_password_token: (t) => t.string('reset_password_token'),
    },
    onCreate: (t) => {
      t.unique(['email']);
    },
  },
  {
    name: '_nango_configs',
    columns: {
      id: (t) => t.increments('id').primary(),
      ...timestamps,
      unique_key: (t) => t.string('unique_key').notNullable(),
      provider: (t) => t.string('provider').notNullable(),
      oauth_client_id: (t) => t.text('oauth_client_id'),
      oauth_client_secret: (t) => t.text('oauth_client_secret'),
      oauth_scopes: (t) => t.text('oauth_scopes'),
      account_id: (t) => t.integer('account_id').notNullable().defaultTo(0),
      oauth_client_secret_iv: (t) => t.string('oauth_client_secret_iv'),
      oauth_client_secret_tag: (t) => t.string('oauth_client_secret_tag'),
    },
    onCreate: (t) => {
      t.unique(['unique_key', 'account_id']);
    },
  },
  {
    name: '_nango_connections',
    columns: {
      id: (t) => t.increments('id').primary(),
      ...timestamps,
      provider_config_key: (t) => t.string('provider_config_key').notNullable(),
      connection_id: (t) => t.string('connection_id').notNullable(),
      credentials: (t) => t.json('credentials').notNullable(),
      connection_config: (t) => t.jsonb('connection_config'),
      account_id: (t) => t.integer('account_id').notNullable().defaultTo(0),
      metadata: (t) => t.jsonb('metadata'),
      credentials_iv: (t) => t.string('credentials_iv'),
      credentials_tag: (t) => t.string('credentials_tag'),
    },
    onCreate: (t) => {
      t.unique(['provider_config_key', 'connection_id', 'account_id']);
    },
  },
  {
    name: '_nango_db_config',
    columns: {
      encryption_key_hash: (t) => t.string('encryption_key_hash'),
      encryption_complete: (t) => t.boolean('encryption_complete').defaultTo(false),
    },
  },
  {
    name: '_nango_oauth_sessions',
    columns: {
      id: (t) => t.uuid('id').notNullable().primary(),
      provider_config_key: (t) => t.string('provider_config_key').notNullable(),
      provider: (t) => t.string('provider').notNullable(),
      connection_id: (t) => t.string('connection_id').notNullable(),
      callback_url: (t) => t.text('callback_url').notNullable(),
      auth_mode: (t) => t.string('auth_mode').notNullable(),
      account_id: (t) => t.bigInteger('account_id').defaultTo(0),
      connection_config: (t) => t.json('connection_config'),
      web_socket_client_id: (t) => t.string('web_socket_client_id'),
      code_verifier: (t) => t.string('code_verifier'),
      request_token_secret: (t) => t.string('request_token_secret'),
      ...timestamps,
    },
  },
];
}

export async function up(knex: Knex): Promise<void> {
  for (const spec of tables(knex)) {
    if (!(await knex.schema.withSchema(SCHEMA).hasTable(spec.name))) {
      await knex.schema.withSchema(SCHEMA).createTable(spec.name, (table) => {
        for (const add of Object.values(spec.columns)) add(table);
        spec.onCreate?.(table);
      });
      continue;
    }
    for (const [column, add] of Object.entries(spec.columns)) {
      if (!(await knex.schema.withSchema(SCHEMA).hasColumn(spec.name, column))) {
        await knex.schema.withSchema(SCHEMA).alterTable(spec.name, (table) => add(table as unknown as Knex.CreateTableBuilder));
      }
    }
  }
  // Self-hosted Nango works as account 0 and user 0; adopted databases already have both rows. NOT EXISTS rather
  // than ON CONFLICT: Nango's tables have NOT NULL columns ours leave empty, and those are checked before conflicts.
  await knex.raw(`INSERT INTO ??._nango_accounts (id, name) SELECT 0, 'My Organization' WHERE NOT EXISTS (SELECT 1 FROM ??._nango_accounts WHERE id = 0)`, [SCHEMA, SCHEMA]);
  await knex.raw(
    `INSERT INTO ??._nango_users (id, name, email, hashed_password, salt, account_id) SELECT 0, 'unknown', 'unknown', 'unknown', 'unknown', 0 WHERE NOT EXISTS (SELECT 1 FROM ??._nango_users WHERE id = 0)`,
    [SCHEMA, SCHEMA],
  );
}

export async function down(): Promise<void> {
  // Never drop a credential table from a migration: rolling back must not lose anyone's tokens.
  throw new Error('The seed tables migration cannot be rolled back; restore a backup instead.');
}
