import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a client made and what the server answered, as seen on the wire. */
export interface Exchange {
  method: string;
  /** The path, without the query string. */
  path: string;
  status: number;
  contentType: string;
  body: string;
}

export interface RecordingForwarder {
  origin: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server that forwards every request to `target` and records each exchange, so a spec sees
 * exactly what a real client (an SDK) sent and got back.
 */
export async function startRecordingForwarder(target: string): Promise<RecordingForwarder> {
  const exchanges: Exchange[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name, value]) => name !== 'host' && name !== 'connection' && typeof value === 'string')) as Record<string, string>;
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      void fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body ? { body } : {}), redirect: 'manual' })
        .then(async (answer) => {
          const text = await answer.text();
          exchanges.push({ method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] ?? '/', status: answer.status, contentType: answer.headers.get('content-type') ?? '', body: text });
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' }).end(text);
        })
        .catch((error: unknown) => res.writeHead(502).end(String(error)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
