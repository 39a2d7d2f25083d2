import type { Logger } from '../logger.js';
import type { EncryptionStateStore } from '../store/encryption-state-store.js';
import { keyFingerprint, type Cipher } from './aes-gcm.js';

export class EncryptionKeyMismatchError extends Error {
  override name = 'EncryptionKeyMismatchError';
}

export interface EncryptionKeys {
  /** Seals with NANGO_ENCRYPTION_KEY; opens with it or NANGO_ENCRYPTION_KEY_PREVIOUS. */
  cipher: Cipher | undefined;
  previousKey?: string | undefined;
}

/**
 * Brings the database in line with the configured key at start. A first key encrypts every existing row
 * (resuming an interrupted run). A changed key without NANGO_ENCRYPTION_KEY_PREVIOUS, or a removed key,
 * stops the start, because rows sealed with the old key could no longer be read. With the previous key
 * given, a rotation begins (or resumes): answers `rotationPending`, and `rotateEncryptionKey` finishes it
 * while the server serves.
 */
export async function reconcileEncryption(state: EncryptionStateStore, keys: EncryptionKeys | Cipher | undefined, log: Logger): Promise<{ rotationPending: boolean }> {
  const { cipher, previousKey } = keys === undefined || 'seal' in keys ? { cipher: keys, previousKey: undefined } : keys;
  const current = await state.read();
  const storedHash = current?.encryption_key_hash ?? null;
  if (!cipher) {
    if (storedHash) {
      throw new EncryptionKeyMismatchError(
        'This database was encrypted with an NANGO_ENCRYPTION_KEY, but none is set now; start again with the same key (it cannot be removed once set).',
      );
    }
    log.info('🔓 Encryption disabled (no NANGO_ENCRYPTION_KEY set): tokens and client secrets are stored in plain text.');
    return { rotationPending: false };
  }
  const hash = cipher.fingerprint();
  const previousHash = previousKey ? keyFingerprint(previousKey) : undefined;

  if (storedHash && storedHash === previousHash) {
    log.info('🔐 Encryption key rotation starting: rows are re-encrypted with the new NANGO_ENCRYPTION_KEY while the server serves.');
    await state.write({ encryption_key_hash: hash, encryption_complete: false, rotating_from_hash: previousHash });
    return { rotationPending: true };
  }
  if (storedHash && storedHash !== hash) {
    throw new EncryptionKeyMismatchError(
      'NANGO_ENCRYPTION_KEY is not the key this database was encrypted with; start again with the original key, or rotate by setting NANGO_ENCRYPTION_KEY_PREVIOUS to the original key.',
    );
  }
  if (storedHash && current?.rotating_from_hash) {
    if (current.rotating_from_hash !== previousHash) {
      throw new EncryptionKeyMismatchError(
        'An encryption key rotation is not finished: keep NANGO_ENCRYPTION_KEY_PREVIOUS set to the old key until the log says the rotation is complete.',
      );
    }
    log.info('🔐 Resuming an unfinished encryption key rotation while the server serves.');
    return { rotationPending: true };
  }
  if (storedHash && current?.encryption_complete) {
    if (previousKey) log.info('🔐 The encryption key rotation is complete; NANGO_ENCRYPTION_KEY_PREVIOUS can be removed.');
    log.info('🔐 Encryption enabled: tokens and client secrets are encrypted at rest (AES-256-GCM).');
    return { rotationPending: false };
  }
  log.info(storedHash ? '🔐 A previous encryption of the database did not finish; resuming it.' : '🔐 Encryption key set: encrypting the existing rows of the database.');
  await state.write({ encryption_key_hash: hash, encryption_complete: false, rotating_from_hash: null });
  const count = await state.encryptPlaintextRows(cipher);
  await state.write({ encryption_key_hash: hash, encryption_complete: true, rotating_from_hash: null });
  log.info(`🔐 Encryption enabled: ${count} existing row(s) encrypted; tokens and client secrets are encrypted at rest (AES-256-GCM).`);
  return { rotationPending: false };
}

/** Re-encrypts every row with the current key, then marks the rotation complete (the old key is refused from then on). */
export async function rotateEncryptionKey(state: EncryptionStateStore, cipher: Cipher, log: Logger): Promise<void> {
  const started = Date.now();
  const scanned = await state.reencryptRows(cipher);
  await state.write({ encryption_key_hash: cipher.fingerprint(), encryption_complete: true, rotating_from_hash: null });
  log.info(`🔐 Encryption key rotation complete (${scanned} row(s) checked in ${Date.now() - started} ms); NANGO_ENCRYPTION_KEY_PREVIOUS can be removed.`);
}
