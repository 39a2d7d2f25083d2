import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A provider's OAuth endpoints on 127.0.0.1, enforcing the rules that provider documents. Each spec gives the
 * rules as a handler of token requests; the stand-in parses the request (form or JSON body, HTTP Basic client
 * authentication) and answers an authorization request by sending the browser back with a one-time code.
 */
export interface TokenRequestSeen {
  method: string;
  path: string;
  /** The query string without its `?` (Dropbox Sign's refresh operation is `?refresh`). */
  query: string;
  params: Record<string, string>;
  /** The client of an `Authorization: Basic` header, if one was sent. */
  basic: { clientId: string; clientSecret: string } | undefined;
  contentType: string;
  /** The request's headers, lower-case names (a session token an API call carries). */
  headers: http.IncomingHttpHeaders;
}

export interface StandInAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** What a consent page does with an authorization request: send the browser back with these parameters, or show a refusal. */
export type ConsentAnswer = { back: Record<string, string> } | StandInAnswer;

export interface DocumentedProvider {
  origin: string;
  clientId: string;
  clientSecret: string;
  /** Every token request received, in order. */
  requests: TokenRequestSeen[];
  /** The query of every authorization request received, in order. */
  authorizations: Record<string, string>[];
  /** Issues a code for the next authorization request, as the provider's consent screen would. */
  issueCode(): string;
  /** True once, for a code this stand-in issued and nobody redeemed yet. */
  redeemCode(code: string): boolean;
  close(): Promise<void>;
}

export async function startDocumentedProvider(options: {
  /** The path of the authorization page (a GET that redirects back with `code` and `state`). */
  authorizationPath?: string;
  /** A consent page of the provider's own rules, instead of sending back `code` and `state` whatever the request. */
  consent?: (query: Record<string, string>, provider: DocumentedProvider) => ConsentAnswer;
  answer: (request: TokenRequestSeen, provider: DocumentedProvider) => StandInAnswer;
}): Promise<DocumentedProvider> {
  const clientId = `client-${randomBytes(4).toString('hex')}`;
  const clientSecret = `secret-${randomBytes(12).toString('hex')}`;
  const codes = new Set<string>();
  const requests: TokenRequestSeen[] = [];
  const authorizations: Record<string, string>[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET' && options.authorizationPath && url.pathname === options.authorizationPath) {
      const query = Object.fromEntries(url.searchParams);
      authorizations.push(query);
      const consent = options.consent?.(query, provider) ?? { back: { code: provider.issueCode(), state: query['state'] ?? '' } };
      if (!('back' in consent)) return void send(res, consent);
      const redirect = new URL(query['redirect_uri'] ?? '');
      for (const [name, value] of Object.entries(consent.back)) redirect.searchParams.set(name, value);
      return void res.writeHead(302, { location: redirect.toString() }).end();
    }
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
      let params: Record<string, string> = {};
      if (contentType === 'application/json') {
        try {
          params = JSON.parse(body) as Record<string, string>;
        } catch {
          return void send(res, { status: 400, body: { error: 'invalid_request', error_description: 'The body is not JSON.' } });
        }
      } else {
        params = Object.fromEntries(new URLSearchParams(body));
      }
      const seen: TokenRequestSeen = { method: req.method ?? '', path: url.pathname, query: url.search.slice(1), params, basic: basicClient(req.headers.authorization), contentType, headers: req.headers };
      requests.push(seen);
      send(res, options.answer(seen, provider));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const provider: DocumentedProvider = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clientId,
    clientSecret,
    requests,
    authorizations,
    issueCode() {
      const code = `code-${randomBytes(8).toString('hex')}`;
      codes.add(code);
      return code;
    },
    redeemCode: (code) => codes.delete(code),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return provider;
}

function send(res: http.ServerResponse, answer: StandInAnswer): void {
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
}

function basicClient(header: string | undefined): TokenRequestSeen['basic'] {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: decodeURIComponent(decoded.slice(0, colon)), clientSecret: decodeURIComponent(decoded.slice(colon + 1)) };
}

/** A template URL of the built-in catalog with its origin replaced by the stand-in's (path and query kept). */
export function rehost(templateUrl: string | undefined, origin: string): string {
  const url = new URL(templateUrl ?? '');
  return `${origin}${url.pathname}${url.search}`;
}

export function refusal(status: number, error: string, description: string): StandInAnswer {
  return { status, body: { error, error_description: description } };
}

export function tokens(prefix: string, withRefresh = true): StandInAnswer {
  const suffix = randomBytes(6).toString('hex');
  return { status: 200, body: { access_token: `${prefix}-access-${suffix}`, token_type: 'Bearer', expires_in: 3600, ...(withRefresh ? { refresh_token: `${prefix}-refresh-${suffix}` } : {}) } };
}
