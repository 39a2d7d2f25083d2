import { createHmac, createSign, randomBytes } from 'node:crypto';
import { ApiError } from '../errors.js';

/**
 * RFC 5849 §3.4 signatures and the `Authorization: OAuth …` header (§3.5.1) that carries them. The protocol
 * parameters travel only in that header: a request must carry them in exactly one place (§3.5), and the
 * signature covers them once beside the query and form-body parameters, which stay where they are.
 */
export type OAuth1SignatureMethod = 'HMAC-SHA1' | 'RSA-SHA1' | 'PLAINTEXT';

export interface OAuth1Consumer {
  key: string;
  /** The consumer secret; for RSA-SHA1 the PEM of the consumer's RSA private key. */
  secret: string;
  method: OAuth1SignatureMethod;
}

export interface OAuth1Request {
  method: string;
  /** The URL as it will be sent: its query parameters are signed. */
  url: URL;
  /** The parameters of an `application/x-www-form-urlencoded` body, which the signature covers (§3.4.1.3.1). */
  formParams?: Iterable<[string, string]> | undefined;
  /** The token and its secret: the request token for the access-token call, the access token afterwards. */
  token?: { key: string; secret: string } | undefined;
  /** Protocol parameters of one call beyond the usual ones (`oauth_callback`, `oauth_verifier`). */
  protocolParams?: Record<string, string> | undefined;
}

/** A fixed nonce and timestamp, for specs that show a provider refusing a reused or stale one. */
export interface NonceAndTimestamp {
  nonce: string;
  timestamp: number;
}

/** The value of the Authorization header for one request; a fresh nonce and timestamp each call. */
export function oauth1Authorization(consumer: OAuth1Consumer, request: OAuth1Request, fixed?: NonceAndTimestamp): string {
  const protocol: Record<string, string> = {
    ...request.protocolParams,
    oauth_consumer_key: consumer.key,
    // 24 hex digits: 96 random bits, and within the 20 to 30 letters and digits that oauthlib-based providers accept.
    oauth_nonce: fixed?.nonce ?? randomBytes(12).toString('hex'),
    oauth_signature_method: consumer.method,
    oauth_timestamp: String(fixed?.timestamp ?? Math.floor(Date.now() / 1000)),
    oauth_version: '1.0',
    ...(request.token ? { oauth_token: request.token.key } : {}),
  };
  const signed: [string, string][] = [...new URLSearchParams(request.url.search), ...(request.formParams ?? []), ...Object.entries(protocol)];
  const base = [request.method.toUpperCase(), percentEncode(`${request.url.origin}${request.url.pathname}`), percentEncode(normalizedParameters(signed))].join('&');
  protocol['oauth_signature'] = signature(consumer, base, request.token?.secret ?? '');
  return `OAuth ${Object.entries(protocol)
    .map(([name, value]) => `${percentEncode(name)}="${percentEncode(value)}"`)
    .join(', ')}`;
}

/** Names of parameters reserved for the protocol (§3.1): a request's own query or body must not carry them. */
export function isProtocolParameter(name: string): boolean {
  return name.startsWith('oauth_');
}

/** §3.6: RFC 3986 unreserved characters stay, every other UTF-8 byte becomes %XX (upper-case hex). */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** §3.4.1.3.2: encode names and values, sort by name then value (byte order), join as name=value with `&`. */
function normalizedParameters(params: [string, string][]): string {
  return params
    .map(([name, value]) => [percentEncode(name), percentEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? compare(av, bv) : compare(a, b)))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function signature(consumer: OAuth1Consumer, base: string, tokenSecret: string): string {
  const key = `${percentEncode(consumer.secret)}&${percentEncode(tokenSecret)}`;
  switch (consumer.method) {
    case 'PLAINTEXT':
      return key;
    case 'RSA-SHA1':
      try {
        return createSign('RSA-SHA1').update(base).sign(consumer.secret, 'base64');
      } catch {
        throw new ApiError(
          'bad_request',
          'RSA-SHA1 signs with the integration\'s client secret as a PEM RSA private key ("-----BEGIN PRIVATE KEY-----…"), and this client secret is not one: set it to the private key whose public key is registered with the provider.',
        );
      }
    case 'HMAC-SHA1':
      return createHmac('sha1', key).update(base).digest('base64');
  }
}
