import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauth1Authorization } from '../src/oauth/oauth1-signature.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { hasOAuthlib, oauthlibToken, startOAuth1Provider, type OAuth1Provider } from './support/oauth1-provider.js';
import { buildTestApp, listenOnLoopback, type TestApp } from './support/test-app.js';
import { catalogWith } from './support/test-providers.js';

/**
 * `ALL /proxy/*` for OAuth 1.0a connections, judged by oauthlib's resource endpoint with its checks on (one
 * location for protocol parameters, a fresh nonce, a recent timestamp): for each signature method, the query
 * edge cases of RFC 5849 §3.4.1.3, signed form bodies, unsigned other bodies, percent-encoded paths, retries
 * and redirects, each signed anew.
 */
const SECRET = 'proxy-oauth1-secret-key';
const SIGNATURE_METHODS = ['HMAC-SHA1', 'RSA-SHA1', 'PLAINTEXT'] as const;
type SignatureMethod = (typeof SIGNATURE_METHODS)[number];
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const consumer = { key: oauthlibToken(), secret: oauthlibToken(30), rsaPublicKey: rsa.publicKey };
const accessToken = { client: consumer.key, token: oauthlibToken(30), secret: oauthlibToken(30) };
const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).privateKey;
const clientSecret = (method: SignatureMethod): string => (method === 'RSA-SHA1' ? rsa.privateKey : consumer.secret);

let database: TestDatabase;
let provider: OAuth1Provider;
let test: TestApp;
let host: string;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP call to our server: the path goes out byte for byte. */
function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(host);
  const framing: Record<string, string> = init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {};
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers: { authorization: `Bearer ${SECRET}`, ...framing, ...init.headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(init.body);
  });
}

interface Echo {
  method: string;
  url: string;
  content_type: string | null;
  body: string;
  /** The request's parameters other than the protocol ones, as oauthlib collected them for the signature. */
  params: [string, string][];
  signature_method: string;
  consumer_key: string;
  token: string;
}

const echo = (answer: Answer): Echo => {
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as Echo;
};
const sorted = (params: [string, string][]): [string, string][] => [...params].sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1));

describe.skipIf(!hasOAuthlib())('the proxy signs OAuth 1.0a calls that oauthlib accepts', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    provider = await startOAuth1Provider([consumer], [accessToken]);
    const template = (method: SignatureMethod) => ({
      display_name: `OAuth1 ${method}`,
      auth_mode: 'OAUTH1',
      request_url: provider.requestUrl,
      authorization_url: provider.authorizationUrl,
      token_url: provider.accessUrl,
      signature_method: method,
      docs: 'https://example.com/docs',
      proxy: { base_url: `${provider.origin}/1.1` },
    });
    const { catalog } = catalogWith(Object.fromEntries(SIGNATURE_METHODS.map((method) => [`oauth1-${method.toLowerCase()}`, template(method)])));
    test = await buildTestApp(database, { NANGO_SECRET_KEY: SECRET }, { providers: catalog, providerTimeoutMs: 3_000 });
    host = await listenOnLoopback(test);
    const post = async (path: string, body: Record<string, string>, status: number): Promise<void> => {
      expect((await send(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(status);
    };
    for (const method of SIGNATURE_METHODS) {
      // Its own integration, and one whose consumer secret (or RSA key) the provider does not know.
      const integrations: [string, string][] = [[method, clientSecret(method)], [`${method}-stranger`, method === 'RSA-SHA1' ? strangerKey : 'not-the-consumer-secret']];
      for (const [key, secret] of integrations) {
        await post('/config', { provider_config_key: key, provider: `oauth1-${method.toLowerCase()}`, oauth_client_id: consumer.key, oauth_client_secret: secret, oauth_scopes: 'read' }, 200);
        await post('/connection', { connection_id: 'u1', provider_config_key: key, type: 'OAUTH1', oauth_token: accessToken.token, oauth_token_secret: accessToken.secret }, 201);
      }
      await post('/connection', { connection_id: 'tampered', provider_config_key: method, type: 'OAUTH1', oauth_token: accessToken.token, oauth_token_secret: `${accessToken.secret}x` }, 201);
    }
  });

  afterAll(async () => {
    await test?.close();
    await provider?.close();
    await database?.drop();
  });

  const headers = (method: SignatureMethod, extra: Record<string, string> = {}, connectionId = 'u1') => ({ 'connection-id': connectionId, 'provider-config-key': method, ...extra });

  it('OAUTH1: an HMAC-SHA1 signature over method, URL, query and form body that the API can verify', async () => {
    const before = (await provider.state()).accepted.length;
    const answers = [
      await send('/proxy/statuses/home_timeline.json?count=5&screen_name=a%20b', { headers: headers('HMAC-SHA1') }),
      await send('/proxy/statuses/update.json?trim=1', { method: 'POST', headers: headers('HMAC-SHA1', { 'content-type': 'application/x-www-form-urlencoded' }), body: 'status=Hello+Ladies+%2B+Gentlemen%2C+a+signed+OAuth+request%21' }),
    ];
    const seen = answers.map(echo);
    const accepted = (await provider.state()).accepted.slice(before);
    expect(accepted).toHaveLength(2);
    for (const request of accepted) expect(request.signature_type).toBe('AUTH_HEADER');
    expect(accepted[1]?.oauth_params).toMatchObject({ oauth_consumer_key: consumer.key, oauth_token: accessToken.token, oauth_signature_method: 'HMAC-SHA1' });
    expect(seen[1]?.body).toBe('status=Hello+Ladies+%2B+Gentlemen%2C+a+signed+OAuth+request%21');
  });

  describe.each(SIGNATURE_METHODS)('%s', (method) => {
    it('signs a query with repeated keys, +, %20, ~, *, %25, UTF-8, an empty value and a bare name', async () => {
      const query = 'q=a+b&q=a%20b&q=A&tilde=~x%7Ey&star=*&pct=100%25&utf=%C3%A9t%C3%A9%20%E2%9C%93&empty=&flag&%C3%BC=key';
      const seen = echo(await send(`/proxy/search?${query}`, { headers: headers(method) }));
      expect(seen).toMatchObject({ method: 'GET', url: `/1.1/search?${query}`, signature_method: method, consumer_key: consumer.key, token: accessToken.token });
      expect(sorted(seen.params)).toEqual(
        sorted([['q', 'a b'], ['q', 'a b'], ['q', 'A'], ['tilde', '~x~y'], ['star', '*'], ['pct', '100%'], ['utf', 'été ✓'], ['empty', ''], ['flag', ''], ['ü', 'key']]),
      );
    });

    it('signs the parameters of a form-encoded body, and sends the body byte for byte', async () => {
      const body = 'status=Hello+Ladies+%2B+Gentlemen%2C+a+signed+OAuth+request%21&tag=b&tag=a&mark=%E2%9C%93~*';
      const seen = echo(await send('/proxy/statuses/update.json?include_entities=true', { method: 'POST', headers: headers(method, { 'content-type': 'application/x-www-form-urlencoded' }), body }));
      expect(seen.body).toBe(body);
      expect(sorted(seen.params)).toEqual(
        sorted([['include_entities', 'true'], ['status', 'Hello Ladies + Gentlemen, a signed OAuth request!'], ['tag', 'b'], ['tag', 'a'], ['mark', '✓~*']]),
      );
    });

    it('signs a form-encoded PUT with a charset in its Content-Type', async () => {
      const seen = echo(await send('/proxy/lists/1', { method: 'PUT', headers: headers(method, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }), body: 'name=caf%C3%A9' }));
      expect(seen.params).toEqual([['name', 'café']]);
    });

    it('leaves a JSON body out of the signature and sends it unchanged', async () => {
      const body = JSON.stringify({ text: 'a=b&c=d', oauth_like: 'é' });
      const seen = echo(await send('/proxy/tweets?dry=1', { method: 'POST', headers: headers(method, { 'content-type': 'application/json' }), body }));
      expect(seen.body).toBe(body);
      expect(seen.params).toEqual([['dry', '1']]);
    });

    it('signs a percent-encoded path as it is sent', async () => {
      const path = '/files/a%2Fb%20c/%7Euser/caf%C3%A9/*';
      const seen = echo(await send(`/proxy${path}`, { headers: headers(method) }));
      expect(seen.url).toBe(`/1.1${path}`);
    });

    it('signs each retry anew: a fresh nonce the provider has not seen', async () => {
      await provider.script('/1.1/flaky', [{ status: 503, headers: { 'retry-after': '0' }, body: 'try later' }]);
      const before = (await provider.state()).accepted.length;
      const seen = echo(await send('/proxy/flaky', { method: 'POST', headers: headers(method, { retries: '2', 'content-type': 'application/x-www-form-urlencoded' }), body: 'n=1' }));
      expect(seen.params).toEqual([['n', '1']]);
      const attempts = (await provider.state()).accepted.slice(before);
      expect(attempts).toHaveLength(2);
      expect(attempts[0]?.oauth_params['oauth_nonce']).not.toBe(attempts[1]?.oauth_params['oauth_nonce']);
    });

    it('signs the target of a same-origin redirect anew', async () => {
      await provider.script('/1.1/old', [{ status: 302, headers: { location: '/1.1/new?page=2' } }]);
      const seen = echo(await send('/proxy/old?page=1', { headers: headers(method) }));
      expect(seen.url).toBe('/1.1/new?page=2');
    });

    it('refuses oauth_ parameters in the caller\'s query or form body before anything is sent', async () => {
      const before = await provider.state();
      const inQuery = await send('/proxy/search?oauth_token=mine', { headers: headers(method) });
      const inBody = await send('/proxy/update', { method: 'POST', headers: headers(method, { 'content-type': 'application/x-www-form-urlencoded' }), body: 'a=1&oauth_callback=x' });
      expect([inQuery.status, inBody.status]).toEqual([400, 400]);
      expect(JSON.parse(inQuery.body).error).toContain('"oauth_token" in its query string or form body');
      expect(JSON.parse(inBody.body).error).toContain('"oauth_callback" in its query string or form body');
      const after = await provider.state();
      expect([after.accepted.length, after.refused.length]).toEqual([before.accepted.length, before.refused.length]);
    });

    it('control: the provider refuses a call signed with a consumer secret or RSA key it does not know, and the proxy passes its 401 back', async () => {
      const answer = await send('/proxy/search?q=1', { headers: { 'connection-id': 'u1', 'provider-config-key': `${method}-stranger` } });
      expect(answer.status).toBe(401);
      expect(answer.body).toBe('oauth_problem=signature_invalid');
    });

    it.skipIf(method === 'RSA-SHA1')('control: the provider refuses a call signed with the wrong token secret (RSA-SHA1 does not use it)', async () => {
      const answer = await send('/proxy/search?q=1', { headers: headers(method, {}, 'tampered') });
      expect(answer.status).toBe(401);
      expect(answer.body).toBe('oauth_problem=signature_invalid');
    });

    it('control: the provider refuses a tampered signature, a replayed nonce and a stale timestamp', async () => {
      const url = new URL(`${provider.origin}/1.1/search?q=1`);
      const sign = (fixed?: { nonce: string; timestamp: number }) =>
        oauth1Authorization({ key: consumer.key, secret: clientSecret(method), method }, { method: 'GET', url, token: { key: accessToken.token, secret: accessToken.secret } }, fixed);
      const call = (authorization: string) => fetch(url, { headers: { authorization } }).then(async (response) => [response.status, await response.text()] as const);
      const fixed = { nonce: oauthlibToken(24), timestamp: Math.floor(Date.now() / 1000) };
      expect((await call(sign(fixed)))[0]).toBe(200);
      expect(await call(sign(fixed))).toEqual([401, 'oauth_problem=nonce_used']);
      const [status, body] = await call(sign({ nonce: oauthlibToken(24), timestamp: fixed.timestamp - 601 }));
      expect([status, body]).toEqual([400, expect.stringContaining('oauth_problem=timestamp_refused')]);
      const tampered = sign().replace(/oauth_signature="(.)/, (_match, first: string) => `oauth_signature="${first === 'A' ? 'B' : 'A'}`);
      expect(await call(tampered)).toEqual([401, 'oauth_problem=signature_invalid']);
    });
  });
});
