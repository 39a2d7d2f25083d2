import type { Cipher } from '../crypto/aes-gcm.js';

/**
 * The two encrypted column shapes of Nango's format. The store is the only caller: nothing else sees
 * ciphertext, and nothing it writes holds a plaintext secret when a key is set.
 */
export interface SealedText {
  value: string | null;
  iv: string | null;
  tag: string | null;
}

export function sealText(cipher: Cipher | undefined, plaintext: string | null): SealedText {
  if (!cipher || plaintext === null) return { value: plaintext, iv: null, tag: null };
  const sealed = cipher.seal(plaintext);
  return { value: sealed.ciphertext, iv: sealed.iv, tag: sealed.tag };
}

/** False for a value stored in clear (no key was set when it was written), which opens as it is. */
export function isSealedText(stored: SealedText): stored is { value: string; iv: string; tag: string } {
  return stored.value !== null && Boolean(stored.iv) && Boolean(stored.tag);
}

export function openText(cipher: Cipher | undefined, stored: SealedText): string | null {
  if (!isSealedText(stored)) return stored.value;
  return requireCipher(cipher).open({ ciphertext: stored.value, iv: stored.iv, tag: stored.tag });
}

/** Credentials become `{"encrypted_credentials": "<base64>"}` with the IV and tag in their own columns. */
export function sealCredentials(cipher: Cipher | undefined, credentials: object): { credentials: object; iv: string | null; tag: string | null } {
  if (!cipher) return { credentials, iv: null, tag: null };
  const sealed = cipher.seal(JSON.stringify(credentials));
  return { credentials: { encrypted_credentials: sealed.ciphertext }, iv: sealed.iv, tag: sealed.tag };
}

export function openCredentials(cipher: Cipher | undefined, stored: unknown, iv: string | null, tag: string | null): Record<string, unknown> {
  if (!iv || !tag) return (stored ?? {}) as Record<string, unknown>;
  const wrapper = stored as { encrypted_credentials?: unknown };
  if (typeof wrapper?.encrypted_credentials !== 'string') throw new Error('An encrypted credentials column lacks its encrypted_credentials field.');
  return JSON.parse(requireCipher(cipher).open({ ciphertext: wrapper.encrypted_credentials, iv, tag })) as Record<string, unknown>;
}

function requireCipher(cipher: Cipher | undefined): Cipher {
  // The start-up check refuses to run without the key once rows are encrypted, so this is a programming error.
  if (!cipher) throw new Error('An encrypted row was read but no encryption key is configured.');
  return cipher;
}
