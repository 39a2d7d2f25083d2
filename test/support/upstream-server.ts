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
      upstream.answer(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  upstream.origin = `http://127.0.0.1:${port}`;
  upstream.host = `127.0.0.1:${port}`;
  return upstream;
}
