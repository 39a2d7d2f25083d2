import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * Nango's on-disk encryption format, written from the reference (§1.11) with node:crypto only, independently
 * of the server's own code, so tests can produce rows as Nango left them and check what the server writes.
 *
 * AES-256-GCM; key = the base64-decoded NANGO_ENCRYPTION_KEY used as is; a 12-byte random IV; ciphertext,
 * IV and auth tag each stored as base64 text. Credentials are JSON-stringified, encrypted, and the column
 * holds `{"encrypted_credentials": "<base64>"}`.
 */
export interface NangoSealed {
  ciphertext: string;
  iv: string;
  tag: string;
}

/** A new NANGO_ENCRYPTION_KEY: base64 of 32 random bytes. */
export function newEncryptionKey(): string {
  return randomBytes(32).toString('base64');
}

export function nangoSeal(base64Key: string, plaintext: string): NangoSealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(base64Key, 'base64'), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { ciphertext: ciphertext.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

export function nangoOpen(base64Key: string, sealed: NangoSealed): string {
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(base64Key, 'base64'), Buffer.from(sealed.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
}

/** The `_nango_connections` columns for credentials sealed the way Nango seals them. */
export function nangoSealedCredentials(base64Key: string, credentials: object): { credentials: string; credentials_iv: string; credentials_tag: string } {
  const sealed = nangoSeal(base64Key, JSON.stringify(credentials));
  return { credentials: JSON.stringify({ encrypted_credentials: sealed.ciphertext }), credentials_iv: sealed.iv, credentials_tag: sealed.tag };
}

/** Opens a raw `_nango_connections` row's credentials (the column as pg returns it, parsed JSON). */
export function nangoOpenCredentials(base64Key: string, row: { credentials: unknown; credentials_iv: string | null; credentials_tag: string | null }): unknown {
  const wrapper = row.credentials as { encrypted_credentials?: unknown };
  if (typeof wrapper?.encrypted_credentials !== 'string' || !row.credentials_iv || !row.credentials_tag) {
    throw new Error(`Not an encrypted credentials column: ${JSON.stringify(row.credentials)}`);
  }
  return JSON.parse(nangoOpen(base64Key, { ciphertext: wrapper.encrypted_credentials, iv: row.credentials_iv, tag: row.credentials_tag }));
}

/**
 * `_nango_db_config.encryption_key_hash`: PBKDF2-SHA256 over the key's base64 TEXT, with the salt TEXT
 * `X89FHEGqR3yNK0+v7rPWxQ==` (its characters, not its decoded bytes), 310 000 iterations, 32 bytes, base64.
 */
export function nangoKeyFingerprint(base64Key: string): string {
  return pbkdf2Sync(Buffer.from(base64Key, 'utf8'), Buffer.from('X89FHEGqR3yNK0+v7rPWxQ==', 'utf8'), 310_000, 32, 'sha256').toString('base64');
}
