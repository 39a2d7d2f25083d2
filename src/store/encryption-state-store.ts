import type { Knex } from 'knex';
import { SCHEMA } from '../db/database.js';
import type { Cipher } from '../crypto/aes-gcm.js';
import { sealCredentials, sealText } from './sealing.js';

/** `_nango_db_config`: the key fingerprint, whether every row is encrypted with it, and a rotation in progress. */
export interface EncryptionState {
  encryption_key_hash: string | null;
  encryption_complete: boolean;
  rotating_from_hash: string | null;
}

const STATE = `${SCHEMA}._nango_db_config`;
const BATCH = 200;

/** The three encrypted columns of Nango's layout: one text column each, or a credentials document. */
interface SealedColumn {
  table: string;
  column: string;
  iv: string;
  tag: string;
  kind: 'text' | 'credentials';
}

const SEALED_COLUMNS: SealedColumn[] = [
  { table: `${SCHEMA}._nango_accounts`, column: 'secret_key', iv: 'secret_key_iv', tag: 'secret_key_tag', kind: 'text' },
  { table: `${SCHEMA}._nango_connections`, column: 'credentials', iv: 'credentials_iv', tag: 'credentials_tag', kind: 'credentials' },
  { table: `${SCHEMA}._nango_configs`, column: 'oauth_client_secret', iv: 'oauth_client_secret_iv', tag: 'oauth_client_secret_tag', kind: 'text' },
];

type Row = Record<string, unknown> & { id: number };

export class EncryptionStateStore {
  constructor(private readonly knex: Knex) {}

  async read(): Promise<EncryptionState | undefined> {
    const row = await this.knex<EncryptionState>(STATE).first();
    return row
      ? { encryption_key_hash: row.encryption_key_hash, encryption_complete: Boolean(row.encryption_complete), rotating_from_hash: row.rotating_from_hash ?? null }
      : undefined;
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
    for (const column of SEALED_COLUMNS) {
      for (;;) {
        const count = await this.knex.transaction(async (trx) => {
          const rows = (await trx(column.table).select('id', column.column).whereNull(column.iv).orderBy('id').limit(BATCH).forUpdate().skipLocked()) as Row[];
          for (const row of rows) await trx(column.table).where({ id: row.id }).update(sealValue(cipher, column, row[column.column]));
          return rows.length;
        });
        total += count;
        if (count < BATCH) break;
      }
    }
    return total;
  }

  /**
   * Re-encrypts with the current key every row still sealed with a previous one (and seals plaintext rows).
   * Walks each table by id in batches committed on their own; a restart walks again and skips rows the
   * current key already opens, so a killed rotation resumes without harm.
   */
  async reencryptRows(cipher: Cipher): Promise<number> {
    let total = 0;
    for (const column of SEALED_COLUMNS) {
      let lastId = 0;
      for (;;) {
        const { count, last } = await this.knex.transaction(async (trx) => {
          const rows = (await trx(column.table).select('id', column.column, column.iv, column.tag).where('id', '>', lastId).orderBy('id').limit(BATCH).forUpdate()) as Row[];
          let changed = 0;
          for (const row of rows) {
            const iv = row[column.iv] as string | null;
            const tag = row[column.tag] as string | null;
            let plaintext: unknown = row[column.column];
            if (iv && tag) {
              const ciphertext = column.kind === 'credentials' ? (row[column.column] as { encrypted_credentials?: string } | null)?.encrypted_credentials : (row[column.column] as string | null);
              if (typeof ciphertext !== 'string') continue;
              const sealed = { ciphertext, iv, tag };
              if (cipher.isSealedWithCurrentKey(sealed)) continue;
              const opened = cipher.open(sealed);
              plaintext = column.kind === 'credentials' ? JSON.parse(opened) : opened;
            }
            await trx(column.table).where({ id: row.id }).update(sealValue(cipher, column, plaintext));
            changed++;
          }
          return { count: rows.length, last: rows.at(-1)?.id ?? lastId, changed };
        });
        lastId = last;
        total += count;
        if (count < BATCH) break;
      }
    }
    return total;
  }
}

function sealValue(cipher: Cipher, column: SealedColumn, plaintext: unknown): Record<string, unknown> {
  if (column.kind === 'credentials') {
    const sealed = sealCredentials(cipher, (plaintext ?? {}) as object);
    return { [column.column]: JSON.stringify(sealed.credentials), [column.iv]: sealed.iv, [column.tag]: sealed.tag };
  }
  const sealed = sealText(cipher, (plaintext as string | null) ?? null);
  return { [column.column]: sealed.value, [column.iv]: sealed.iv, [column.tag]: sealed.tag };
}
