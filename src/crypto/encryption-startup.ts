import type { Logger } from '../logger.js';
import type { EncryptionStateStore } from '../store/encryption-state-store.js';
import type { Cipher } from './aes-gcm.js';

export class EncryptionKeyMismatchError extends Error {
  override name = 'EncryptionKeyMismatchError';
}

/**
 * Brings the database in line with the configured key, as Nango does at start: a first key encrypts every
 * existing row (resuming an interrupted run), and a changed or removed key stops the start, because rows
 * sealed with the old key could no longer be read.
 */
export async function reconcileEncryption(state: EncryptionStateStore, cipher: Cipher | undefined, log: Logger): Promise<void> {
  const current = await state.read();
  const storedHash = current?.encryption_key_hash ?? null;
  if (!cipher) {
    if (storedHash) {
      throw new EncryptionKeyMismatchError(
        'This database was encrypted with an NANGO_ENCRYPTION_KEY, but none is set now; start again with the same key (it cannot be removed once set).',
      );
    }
    log.info('🔓 Encryption disabled (no NANGO_ENCRYPTION_KEY set): tokens and client secrets are stored in plain text.');
    return;
  }
  const hash = cipher.fingerprint();
  if (storedHash && storedHash !== hash) {
    throw new EncryptionKeyMismatchError(
      'NANGO_ENCRYPTION_KEY is not the key this database was encrypted with; start again with the original key (it cannot be changed once set).',
    );
  }
  if (storedHash && current?.encryption_complete) {
    log.info('🔐 Encryption enabled: tokens and client secrets are encrypted at rest (AES-256-GCM).');
    return;
  }
  log.info(storedHash ? '🔐 A previous encryption of the database did not finish; resuming it.' : '🔐 Encryption key set: encrypting the existing rows of the database.');
  await state.write({ encryption_key_hash: hash, encryption_complete: false });
  const count = await state.encryptPlaintextRows(cipher);
  await state.write({ encryption_key_hash: hash, encryption_complete: true });
  log.info(`🔐 Encryption enabled: ${count} existing row(s) encrypted; tokens and client secrets are encrypted at rest (AES-256-GCM).`);
}
