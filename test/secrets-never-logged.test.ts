import { existsSync, readdirSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readWatch, SHORTEST_WATCHED_SECRET, type NotedLog, type NotedSecret } from './support/secret-watch.js';

/**
 * Runs after every other spec (its own vitest project, a later group). The specs ran their servers at
 * LOG_LEVEL=debug, and their fixtures noted every secret that passed through them: the keys and passwords the
 * servers were started with, client secrets, the codes, PKCE verifiers and tokens the authorization servers
 * handled, OAuth 1.0a token secrets and verifiers, and the credentials left in each test database. None of them
 * may appear in any log, as is or in the forms a client sends them (URL-encoded).
 */
const watchDir = inject('secretWatchDir');
const watched = existsSync(watchDir) && readdirSync(watchDir).length > 0;

afterAll(() => {
  rmSync(watchDir, { recursive: true, force: true });
});

interface Leak {
  secret: NotedSecret;
  log: NotedLog;
  excerpt: string;
}

/**
 * Every occurrence of every secret, in one pass over each log: secrets are indexed by their first
 * SHORTEST_WATCHED_SECRET characters, and each position of a log is looked up once (searching the logs once per
 * secret took most of a minute for the whole suite).
 */
function findLeaks(secrets: NotedSecret[], logs: NotedLog[]): Leak[] {
  const bySecret = new Map<string, NotedSecret>();
  for (const secret of secrets) {
    bySecret.set(secret.value, secret);
    const encoded = encodeURIComponent(secret.value);
    if (encoded !== secret.value) bySecret.set(encoded, { ...secret, source: `${secret.source} (URL-encoded)` });
  }
  const byPrefix = new Map<string, string[]>();
  for (const needle of bySecret.keys()) {
    const prefix = needle.slice(0, SHORTEST_WATCHED_SECRET);
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), needle]);
  }
  const leaks: Leak[] = [];
  for (const log of logs) {
    const found = new Set<string>();
    for (let at = 0; at + SHORTEST_WATCHED_SECRET <= log.text.length; at++) {
      const candidates = byPrefix.get(log.text.slice(at, at + SHORTEST_WATCHED_SECRET));
      if (!candidates) continue;
      for (const needle of candidates) {
        if (found.has(needle) || !log.text.startsWith(needle, at)) continue;
        found.add(needle);
        const secret = bySecret.get(needle) as NotedSecret;
        // Show where it leaked without printing the secret again.
        const excerpt = `${log.text.slice(Math.max(0, at - 120), at)}<${secret.source}>${log.text.slice(at + needle.length, at + needle.length + 80)}`;
        leaks.push({ secret, log, excerpt });
      }
    }
  }
  return leaks;
}

// Run alone (`vitest run test/secrets-never-logged.test.ts`), no spec has noted anything: there is nothing to search.
describe.skipIf(!watched)('the logs of the whole suite, written at LOG_LEVEL=debug', () => {
  const { secrets, logs } = watched ? readWatch(watchDir) : { secrets: [], logs: [] };

  it('finds a secret planted in a log, as is and URL-encoded (the search works)', () => {
    const planted = { source: 'planted', value: 'planted/secret+value' };
    const asIs = { file: 'as-is', text: `{"msg":"request","token":"${planted.value}"}` };
    const encoded = { file: 'encoded', text: `{"url":"/callback?code=${encodeURIComponent(planted.value)}"}` };
    expect(findLeaks([planted], [asIs, encoded]).map((leak) => leak.log.file)).toEqual(['as-is', 'encoded']);
  });

  it('were captured from the servers the specs ran, with the secrets the fixtures saw', () => {
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.some((log) => /"level":\d+/.test(log.text))).toBe(true);
    expect(secrets.length).toBeGreaterThan(0);
  });

  it('hold none of the secrets that passed through the servers', () => {
    const leaks = findLeaks(secrets, logs);
    const report = leaks.slice(0, 20).map((leak) => `${leak.log.file}: …${leak.excerpt}…`);
    expect(report, `${leaks.length} secret(s) found in the logs`).toEqual([]);
  });
});
