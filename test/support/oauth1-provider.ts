import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { noteSecrets } from './secret-watch.js';

/**
 * An OAuth 1.0a provider that nobody here wrote: `oauth1_provider.py` beside this file serves oauthlib's own
 * request-token, authorization, access-token and resource endpoints (Debian's python3-oauthlib) with its checks
 * on, so our signing is judged by an independent implementation of RFC 5849. This module starts it on a free
 * loopback port, waits until it listens, and stops it on `close()`, or when this process ends in any way (the
 * provider exits when its stdin closes).
 */
export interface OAuth1Provider {
  origin: string;
  requestUrl: string;
  authorizationUrl: string;
  accessUrl: string;
  /** What the provider accepted and refused so far, and how many access tokens it issued through the flow. */
  state(): Promise<OAuth1ProviderState>;
  /** The next calls to `path` (the path alone, as sent) that pass oauthlib's checks get these answers, in order. */
  script(path: string, answers: ScriptedAnswer[]): Promise<void>;
  /** The user declines at the next authorization step (the provider redirects back with `denied`). */
  declineNext(): Promise<void>;
  close(): Promise<void>;
}

export interface OAuth1Consumer {
  /** oauthlib's default format: 20 to 30 letters and digits. */
  key: string;
  /** The HMAC-SHA1 / PLAINTEXT secret. */
  secret: string;
  /** PEM of the consumer's RSA public key, for RSA-SHA1. */
  rsaPublicKey?: string;
  /** A registered callback URL: the provider then refuses any other (its query may vary). */
  callback?: string;
}

/** An access token the provider already issued (as if the flow had run before). */
export interface OAuth1IssuedToken {
  client: string;
  token: string;
  secret: string;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface OAuth1ProviderState {
  issued: string[];
  accepted: { method: string; path: string; signature_type: 'AUTH_HEADER' | 'BODY' | 'QUERY'; oauth_params: Record<string, string>; params: [string, string][] }[];
  refused: { method: string; path: string; problem: string; advice: string }[];
  access_tokens: number;
}

export const DEBIAN_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'oauth1_provider.py');
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Letters and digits, oauthlib's default format for keys, tokens and secrets it checks. */
export function oauthlibToken(length = 24): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** Whether Debian's python3-oauthlib is installed (`.ci/run` installs it). */
export function hasOAuthlib(): boolean {
  return existsSync('/usr/lib/python3/dist-packages/oauthlib/oauth1/__init__.py') && existsSync(DEBIAN_PYTHON);
}

export async function startOAuth1Provider(consumers: OAuth1Consumer[], accessTokens: OAuth1IssuedToken[] = []): Promise<OAuth1Provider> {
  noteSecrets('oauth1 provider', [...consumers.map((consumer) => consumer.secret), ...accessTokens.map((token) => token.secret)]);
  // Debian's interpreter by path: a `python3` earlier on PATH (pyenv, a virtualenv) would not have oauthlib.
  const child = spawn(DEBIAN_PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1' } });
  running.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const config = {
    clients: consumers.map((consumer) => ({ key: consumer.key, secret: consumer.secret, rsa_public_key: consumer.rsaPublicKey, callback: consumer.callback })),
    access_tokens: accessTokens,
  };
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`The oauthlib provider did not start within 15 s:\n${stderr}`)), 15_000);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0] ?? '';
      if (!stdout.includes('\n')) return;
      clearTimeout(timer);
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new Error(`The oauthlib provider said ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The oauthlib provider exited (${code}) before listening:\n${stderr}`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });
  const origin = `http://127.0.0.1:${port}`;
  const control = async (route: string, body?: unknown): Promise<Response> => {
    const response = await fetch(`${origin}/__provider/${route}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`The oauthlib provider refused ${route}: HTTP ${response.status}\n${stderr}`);
    return response;
  };
  const state = async (): Promise<OAuth1ProviderState> => (await (await control('state')).json()) as OAuth1ProviderState;
  return {
    origin,
    requestUrl: `${origin}/oauth/request_token`,
    authorizationUrl: `${origin}/oauth/authorize`,
    accessUrl: `${origin}/oauth/access_token`,
    state,
    script: async (scriptPath, answers) => void (await control('script', { path: scriptPath, answers })),
    declineNext: async () => void (await control('decline-next', {})),
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // Everything it issued goes to the suite's search of the server logs before it is gone.
      const issued = await state().then((seen) => seen.issued, () => []);
      noteSecrets('oauth1 provider issued', issued);
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
      if (stderr.trim() !== '') process.stderr.write(`oauthlib provider: ${stderr}\n`);
    },
  };
}
