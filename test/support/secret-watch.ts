import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import { nangoOpen } from './nango-format.js';

/**
 * The suite-wide watch for secrets in logs. While the specs run, the fixtures note every secret that passes
 * through them (keys and passwords a server is started with, client secrets, tokens, codes and verifiers a
 * provider issues or receives, and whatever credentials a test database holds when it is dropped) and every log
 * a server wrote. `test/secrets-never-logged.test.ts` runs after all the specs (its own vitest project, a later
 * group) and searches every log for every secret.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the fixtures of this run write what they saw; created by the specs' global setup. */
    secretWatchDir: string;
  }
}

export interface NotedSecret {
  source: string;
  value: string;
}

export interface NotedLog {
  file: string;
  text: string;
}

/** Shorter values are words ("secret", "sk") that a log may hold for other reasons; test secrets are longer. */
export const SHORTEST_WATCHED_SECRET = 8;

const SECRET_ENV_VARIABLES = [
  'NANGO_SECRET_KEY',
  'NANGO_ENCRYPTION_KEY',
  'NANGO_ENCRYPTION_KEY_PREVIOUS',
  'NANGO_HMAC_KEY',
  'NANGO_DASHBOARD_PASSWORD',
  'NANGO_WEBHOOK_SECRET',
  'NANGO_DB_PASSWORD',
];

/** Credential fields whose values are secrets; `token_type`, `expires_in` and the like are not. */
const SECRET_FIELD = /(token|secret|password|api_?key|private_?key|verifier|signature|^code$|^key$)/i;
const NOT_SECRET_FIELD = /(type|expires|_in$|_at$)/i;

let logSequence = 0;
/** Keys seen in this worker, to open encrypted rows of the test databases before they are dropped. */
const encryptionKeys = new Set<string>();

function watchDir(): string | undefined {
  try {
    return inject('secretWatchDir');
  } catch {
    // Outside a vitest worker (a script reusing a fixture): nothing to watch.
    return undefined;
  }
}

export function noteSecrets(source: string, values: Iterable<unknown>): void {
  const dir = watchDir();
  if (!dir) return;
  const lines: string[] = [];
  for (const value of values) {
    if (typeof value === 'string' && value.length >= SHORTEST_WATCHED_SECRET) lines.push(JSON.stringify({ source, value } satisfies NotedSecret));
  }
  if (lines.length === 0) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, `secrets-${process.pid}.jsonl`), `${lines.join('\n')}\n`);
}

export function noteLog(source: string, text: string): void {
  const dir = watchDir();
  if (!dir || text.length === 0) return;
  mkdirSync(dir, { recursive: true });
  logSequence += 1;
  const slug = source.replace(/[^\w.-]+/g, '-').slice(0, 80);
  writeFileSync(path.join(dir, `log-${process.pid}-${logSequence}-${slug}.txt`), text);
}

/** The secret settings of a server's environment, in the forms a client sends them too. */
export function noteEnvironmentSecrets(source: string, env: Record<string, string | undefined>): void {
  const values: string[] = [];
  for (const name of SECRET_ENV_VARIABLES) {
    const value = env[name];
    if (!value) continue;
    values.push(value);
    if (name === 'NANGO_SECRET_KEY') values.push(Buffer.from(`${value}:`).toString('base64'));
    if (name.startsWith('NANGO_ENCRYPTION_KEY')) encryptionKeys.add(value);
  }
  const databaseUrl = env['NANGO_DATABASE_URL'];
  if (databaseUrl) {
    try {
      values.push(decodeURIComponent(new URL(databaseUrl).password));
    } catch {
      // A malformed URL is a test of the server's refusal; there is no password to watch.
    }
  }
  noteSecrets(source, values);
}

/** Every string under a secret-looking field of a credentials object, at any depth (`raw` included). */
export function secretFieldValues(value: unknown, field = ''): string[] {
  if (typeof value === 'string') return SECRET_FIELD.test(field) && !NOT_SECRET_FIELD.test(field) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => secretFieldValues(item, field));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([key, item]) => secretFieldValues(item, key));
  return [];
}

/**
 * Notes the secrets a test database holds (client secrets, credentials, PKCE verifiers, OAuth1 request-token
 * secrets), opening encrypted rows with the keys seen in this worker. Called before the database is dropped.
 */
export async function noteDatabaseSecrets(source: string, knex: Knex): Promise<void> {
  if (!watchDir()) return;
  const values: string[] = [];
  const configs = await knex('_nango_configs').select('oauth_client_secret', 'oauth_client_secret_iv', 'oauth_client_secret_tag');
  for (const row of configs) values.push(...openColumn(row.oauth_client_secret, row.oauth_client_secret_iv, row.oauth_client_secret_tag));
  const connections = await knex('_nango_connections').select('credentials', 'credentials_iv', 'credentials_tag');
  for (const row of connections) {
    const wrapper = row.credentials as { encrypted_credentials?: unknown } | null;
    if (typeof wrapper?.encrypted_credentials === 'string') {
      for (const opened of openColumn(wrapper.encrypted_credentials, row.credentials_iv, row.credentials_tag)) values.push(...secretFieldValues(parseJson(opened)));
    } else {
      values.push(...secretFieldValues(row.credentials));
    }
  }
  const sessions = await knex('_nango_oauth_sessions').select('code_verifier', 'request_token_secret');
  for (const row of sessions) values.push(row.code_verifier, row.request_token_secret);
  noteSecrets(source, values);
}

function openColumn(value: unknown, iv: string | null, tag: string | null): string[] {
  if (typeof value !== 'string') return [];
  if (!iv || !tag) return [value];
  for (const key of encryptionKeys) {
    try {
      return [nangoOpen(key, { ciphertext: value, iv, tag })];
    } catch {
      // sealed with another key of this worker
    }
  }
  return [];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** What the run noted, for the final search. */
export function readWatch(dir: string): { secrets: NotedSecret[]; logs: NotedLog[] } {
  const secrets: NotedSecret[] = [];
  const logs: NotedLog[] = [];
  for (const file of readdirSync(dir)) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    if (file.startsWith('secrets-')) {
      for (const line of text.split('\n')) if (line) secrets.push(JSON.parse(line) as NotedSecret);
    } else if (file.startsWith('log-')) {
      logs.push({ file, text });
    }
  }
  return { secrets, logs };
}
