import { createHmac, createVerify, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { noteSecrets } from './secret-watch.js';

/**
 * A small OAuth 1.0a provider for tests (RFC 5849, HMAC-SHA1, PLAINTEXT, and RSA-SHA1 when it is given the
 * consumer's public key): request token → authorize
 * (approves at once, redirecting to the oauth_callback) → access token. It checks every signature itself,
 * independently of the server's signing code, and refuses reused request tokens.
 */
export interface OAuth1Provider {
  origin: string;
  consumerKey: string;
  consumerSecret: string;
  issuedAccessTokens(): number;
  close(): Promise<void>;
}

interface PendingRequestToken {
  secret: string;
  callback: string;
  verifier: string;
}

const encode = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);

export interface OAuth1ProviderOptions {
  /** PEM of the consumer's RSA public key; without it RSA-SHA1 requests are refused. */
  rsaPublicKey?: string;
}

export async function startOAuth1Provider(options: OAuth1ProviderOptions = {}): Promise<OAuth1Provider> {
  const consumerKey = 'oauth1-consumer';
  const consumerSecret = 'oauth1-consumer-secret';
  noteSecrets('oauth1 provider', [consumerSecret]);
  const pending = new Map<string, PendingRequestToken>();
  let issued = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    const fail = (status: number, problem: string): void => void res.writeHead(status, { 'content-type': 'application/x-www-form-urlencoded' }).end(`oauth_problem=${problem}`);
    const oauth = parseAuthorizationHeader(req.headers.authorization ?? '');
    const params: Record<string, string> = { ...Object.fromEntries(url.searchParams), ...oauth };
    const verify = (tokenSecret: string): boolean => {
      const { oauth_signature: signature, ...signed } = params;
      const key = `${encode(consumerSecret)}&${encode(tokenSecret)}`;
      const method = oauth['oauth_signature_method'];
      if (method === 'PLAINTEXT') return signature === key;
      const normalized = Object.entries(signed)
        .map(([name, value]) => [encode(name), encode(value)] as const)
        .sort(([a, av], [b, bv]) => (a === b ? av.localeCompare(bv) : a < b ? -1 : 1))
        .map(([name, value]) => `${name}=${value}`)
        .join('&');
      const base = [req.method ?? 'GET', encode(`${url.origin}${url.pathname}`), encode(normalized)].join('&');
      // RFC 5849 §3.4.3: RSASSA-PKCS1-v1_5 over SHA-1 of the same base string; no shared secret is involved.
      if (method === 'RSA-SHA1') return options.rsaPublicKey !== undefined && createVerify('RSA-SHA1').update(base).verify(options.rsaPublicKey, signature ?? '', 'base64');
      return method === 'HMAC-SHA1' && signature === createHmac('sha1', key).update(base).digest('base64');
    };
    if (oauth['oauth_consumer_key'] !== undefined && oauth['oauth_consumer_key'] !== consumerKey) return fail(401, 'consumer_key_unknown');
    if (url.pathname === '/request_token') {
      if (!params['oauth_callback']) return fail(400, 'parameter_absent');
      if (!verify('')) return fail(401, 'signature_invalid');
      const token = `rt-${randomBytes(6).toString('hex')}`;
      const secret = `rts-${randomBytes(6).toString('hex')}`;
      const verifier = `v-${randomBytes(4).toString('hex')}`;
      pending.set(token, { secret, callback: params['oauth_callback'], verifier });
      noteSecrets('oauth1 provider request token', [secret, verifier]);
      return void res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }).end(`oauth_token=${token}&oauth_token_secret=${secret}&oauth_callback_confirmed=true`);
    }
    if (url.pathname === '/authorize') {
      const token = url.searchParams.get('oauth_token') ?? '';
      const entry = pending.get(token);
      if (!entry) return fail(400, 'token_rejected');
      const back = new URL(entry.callback);
      back.searchParams.set('oauth_token', token);
      back.searchParams.set('oauth_verifier', entry.verifier);
      return void res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === '/access_token') {
      const entry = pending.get(oauth['oauth_token'] ?? '');
      if (!entry) return fail(401, 'token_rejected');
      if (!verify(entry.secret)) return fail(401, 'signature_invalid');
      if (params['oauth_verifier'] !== entry.verifier) return fail(401, 'verifier_invalid');
      pending.delete(oauth['oauth_token'] ?? '');
      issued++;
      const accessTokenSecret = `ats-${randomBytes(6).toString('hex')}`;
      noteSecrets('oauth1 provider access token', [accessTokenSecret]);
      return void res
        .writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' })
        .end(`oauth_token=at-${randomBytes(6).toString('hex')}&oauth_token_secret=${accessTokenSecret}&user_id=42`);
    }
    return fail(404, 'not_found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    consumerKey,
    consumerSecret,
    issuedAccessTokens: () => issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseAuthorizationHeader(header: string): Record<string, string> {
  if (!header.startsWith('OAuth ')) return {};
  const result: Record<string, string> = {};
  for (const match of header.slice(6).matchAll(/([\w]+)="([^"]*)"/g)) {
    if (match[1] !== 'realm') result[match[1] ?? ''] = decodeURIComponent(match[2] ?? '');
  }
  return result;
}
