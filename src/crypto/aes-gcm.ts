import { createCipheriv, createDecipheriv, createSecretKey, pbkdf2Sync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * AES-256-GCM in Nango's on-disk format: the key is the base64-decoded NANGO_ENCRYPTION_KEY used as is,
 * a 12-byte random IV, and ciphertext, IV and auth tag each stored as base64 text.
 */
export interface Sealed {
  ciphertext: string;
  iv: string;
  tag: string;
}

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
/** Nango's fixed fingerprint salt, a fact of its on-disk format: an existing database's hash only matches with it. */
const FINGERPRINT_SALT = 'X89FHEGqR3yNK0+v7rPWxQ==';
const FINGERPRINT_ITERATIONS = 310_000;

export class Cipher {
  /** Key objects made once: a raw key buffer would be checked and copied again by every cipher made from it. */
  private readonly key: KeyObject;
  private readonly previousKeys: KeyObject[];

  /**
   * `previousBase64Keys`: keys being rotated away from. Everything is sealed with the current key; opening
   * falls back to the previous ones, so rows not yet re-encrypted stay readable during a rotation.
   */
  constructor(
    readonly base64Key: string,
    previousBase64Keys: string[] = [],
  ) {
    this.key = createSecretKey(Buffer.from(base64Key, 'base64'));
    this.previousKeys = previousBase64Keys.map((key) => createSecretKey(Buffer.from(key, 'base64')));
  }

  seal(plaintext: string): Sealed {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { ciphertext: ciphertext.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  open(sealed: Sealed): string {
    try {
      return openWith(this.key, sealed);
    } catch (error) {
      for (const key of this.previousKeys) {
        try {
          return openWith(key, sealed);
        } catch {
          // try the next previous key
        }
      }
      throw error;
    }
  }

  /** True when the current key (not a previous one) opens this value: it needs no re-encryption. */
  isSealedWithCurrentKey(sealed: Sealed): boolean {
    try {
      openWith(this.key, sealed);
      return true;
    } catch {
      return false;
    }
  }

  /** The value Nango stores in `_nango_db_config.encryption_key_hash`; slow on purpose (PBKDF2), so computed once. */
  fingerprint(): string {
    return keyFingerprint(this.base64Key);
  }
}

function openWith(key: KeyObject, sealed: Sealed): string {
  const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  // GCM is a stream mode: update returns every byte but a split UTF-8 sequence, which the decoder keeps for final.
  return decipher.update(Buffer.from(sealed.ciphertext, 'base64'), undefined, 'utf8') + decipher.final('utf8');
}

export function keyFingerprint(base64Key: string): string {
  return pbkdf2Sync(base64Key, FINGERPRINT_SALT, FINGERPRINT_ITERATIONS, 32, 'sha256').toString('base64');
}
