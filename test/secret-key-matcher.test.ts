import { describe, expect, it } from 'vitest';
import { secretKeyMatcher } from '../src/plugins/secret-key-auth.js';

/** The secret key check every API request makes, compared byte for byte in constant time without hashing. */
describe('the secret key check', () => {
  const key = 'sk-0123456789abcdef0123456789abcdef';
  const matches = secretKeyMatcher(key);

  it('accepts the key', () => {
    expect(matches(key)).toBe(true);
  });

  it('refuses a key that only starts like the real one, or the real one with more after it', () => {
    expect(matches(key.slice(0, -1))).toBe(false);
    expect(matches(`${key}0`)).toBe(false);
    expect(matches('')).toBe(false);
  });

  it('refuses the key followed by zero bytes, which pad the comparison', () => {
    expect(matches(`${key}\u0000`)).toBe(false);
    expect(secretKeyMatcher('short')('short\u0000\u0000')).toBe(false);
  });

  it('refuses a key far longer than the comparison buffer that starts with the real one', () => {
    expect(matches(key + 'x'.repeat(2_000))).toBe(false);
  });

  it('compares keys with characters beyond ASCII by their UTF-8 bytes', () => {
    const unusual = secretKeyMatcher('clé-secrète-ü');
    expect(unusual('clé-secrète-ü')).toBe(true);
    expect(unusual('cle-secrete-u')).toBe(false);
  });

  it('still checks a key longer than the comparison buffer (by digest)', () => {
    const long = 'k'.repeat(600);
    const matchesLong = secretKeyMatcher(long);
    expect(matchesLong(long)).toBe(true);
    expect(matchesLong(long.slice(0, -1))).toBe(false);
    expect(matchesLong(`${long}k`)).toBe(false);
  });
});
