import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the upstream API saw it. */
export interface SeenRequest {
  method: string;
  /** Path and query, exactly as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A stand-in for a provider's API on 127.0.0.1: records every request (body read whole) and answers with
 * whatever `answer` the test sets; an `answer` that never ends the response makes a hanging upstream.
 *
 * Before the test's answer it refuses what a real API refuses whatever the endpoint: a Host that names
 * another server (421, as a virtual host would), and an OAuth 2 bearer token sent in more than one place
 * (RFC 6750 §2: header and `access_token` query or form field; 400 invalid_request).
 */
export interface UpstreamServer {
  origin: string;
  /** `127.0.0.1:<port>` */
  host: string;
  requests: SeenRequest[];
  answer: (request: SeenRequest, res: ServerResponse) => void;
  close(): Promise<void>;
}

export const echoJson = (request: SeenRequest, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: request.method, url: request.url }));
};

export async function startUpstream(): Promise<UpstreamServer> {
  const upstream: UpstreamServer = {
    origin: '',
    host: '',
    requests: [],
    answer: echoJson,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      upstream.requests.push(seen);
      const refusal = refusalOf(seen, upstream.host);
      if (refusal) return void res.writeHead(refusal.status, { 'content-type': 'application/json', ...refusal.headers }).end(JSON.stringify(refusal.body));
      upstream.answer(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  upstream.origin = `http://127.0.0.1:${port}`;
  upstream.host = `127.0.0.1:${port}`;
  return upstream;
}

function refusalOf(request: SeenRequest, host: string): { status: number; headers: Record<string, string>; body: Record<string, string> } | undefined {
  if (request.headers.host !== host) return { status: 421, headers: {}, body: { error: 'misdirected_request', error_description: `This server is ${host}, not ${request.headers.host ?? '(no Host)'}.` } };
  const query = new URL(request.url, 'http://upstream').searchParams;
  const form = String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(request.body.toString('utf8')) : new URLSearchParams();
  const places = [/^Bearer /i.test(request.headers.authorization ?? ''), query.has('access_token'), form.has('access_token')].filter(Boolean).length;
  if (places > 1) {
    const description = 'The access token was sent in more than one place (RFC 6750 §2).';
    return { status: 400, headers: { 'www-authenticate': `Bearer error="invalid_request", error_description="${description}"` }, body: { error: 'invalid_request', error_description: description } };
  }
  return undefined;
}
