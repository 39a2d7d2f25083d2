import { createHash, randomBytes } from 'node:crypto';

/** RFC 7636 S256: a 48-character verifier (24 random bytes, hex) and its SHA-256, base64url without padding. */
export function createPkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(24).toString('hex');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}
