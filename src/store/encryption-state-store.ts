import type { Knex } from 'knex';
import type { Cipher } from '../crypto/aes-gcm.js';
import { sealCredentials, sealText } from './sealing.js';

/** `_nango_db_config`: the key fingerprint and whether every row has been encrypted with it. */
export interface EncryptionState {
  encryption_key_hash: string | null;
  encryption_complete: boolean;
}

const STATE = '_nango_db_config';
const BATCH = 200;

export class EncryptionStateStore {
  constructor(private readonly knex: Knex) {}

  async read(): Promise<EncryptionState | undefined> {
    const row = await this.knex<EncryptionState>(STATE).first();
    return row ? { encryption_key_hash: row.encryption_key_hash, encryption_complete: Boolean(row.encryption_complete) } : undefined;
  }

  async write(state: EncryptionState): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx(STATE).delete();
      await trx(STATE).insert(state);
    });
  }

  /**
   * Encrypts every row that has no IV yet, in small batches, each committed on its own: an interrupted run
   * resumes where it stopped, because rows already carrying an IV and tag are skipped.
   */
  async encryptPlaintextRows(cipher: Cipher): Promise<number> {
    let total = 0;
    total += await this.encryptTable('_nango_accounts', 'secret_key_iv', async (trx, row: { id: number; secret_key: string | null }) => {
      const sealed = sealText(cipher, row.secret_key);
      await trx('_nango_accounts').where({ id: row.id }).update({ secret_key: sealed.value, secret_key_iv: sealed.iv, secret_key_tag: sealed.tag });
    }, ['id', 'secret_key']);
    total += await this.encryptTable('_nango_connections', 'credentials_iv', async (trx, row: { id: number; credentials: object | null }) => {
      const sealed = sealCredentials(cipher, row.credentials ?? {});
      await trx('_nango_connections').where({ id: row.id }).update({ credentials: JSON.stringify(sealed.credentials), credentials_iv: sealed.iv, credentials_tag: sealed.tag });
    }, ['id', 'credentials']);
    total += await this.encryptTable('_nango_configs', 'oauth_client_secret_iv', async (trx, row: { id: number; oauth_client_secret: string | null }) => {
      const sealed = sealText(cipher, row.oauth_client_secret);
      await trx('_nango_configs').where({ id: row.id }).update({ oauth_client_secret: sealed.value, oauth_client_secret_iv: sealed.iv, oauth_client_secret_tag: sealed.tag });
    }, ['id', 'oauth_client_secret']);
    return total;
  }

  private async encryptTable<Row extends { id: number }>(
    table: string,
    ivColumn: string,
    encryptRow: (trx: Knex.Transaction, row: Row) => Promise<void>,
    columns: string[],
  ): Promise<number> {
    let done = 0;
    for (;;) {
      const count = await this.knex.transaction(async (trx) => {
        const rows = (await trx(table).select(columns).whereNull(ivColumn).orderBy('id').limit(BATCH).forUpdate().skipLocked()) as Row[];
        for (const row of rows) await encryptRow(trx, row);
        return rows.length;
      });
      done += count;
      if (count < BATCH) return done;
    }
  }
}
