import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';

/** `_nango_accounts`: a self-hosted server is account 0; its public key identifies it to frontends. */
export class AccountsStore {
  constructor(private readonly knex: Knex) {}

  async publicKey(): Promise<string | undefined> {
    const row = await this.knex<{ id: number; public_key: string }>(`${SCHEMA}._nango_accounts`).select('public_key').where({ id: 0 }).first();
    return row?.public_key;
  }
}
