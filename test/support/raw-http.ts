import net from 'node:net';

/**
 * One HTTP/1.x exchange over a plain TCP socket, byte for byte: the request goes out exactly as given (odd
 * framing, invalid UTF-8, bad percent-encoding included), so what an HTTP client or `inject` would normalise
 * or refuse to send really reaches the server's parser.
 */
export interface RawAnswer {
  /** The first final (non-1xx) status, or undefined when the server closed the connection without one. */
  status: number | undefined;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** How the exchange ended: a complete answer, the server closing (or resetting) the connection, or no answer in time. */
  ending: 'answered' | 'closed' | 'timeout';
  ms: number;
}

export interface RawRequestOptions {
  /** Give up (and report `timeout`) after this long without a complete answer. */
  timeoutMs: number;
  /** A HEAD answer carries no body whatever its Content-Length says. */
  bodyless?: boolean;
  /** Close our side after sending (for requests that announce more body than they send). */
  halfClose?: boolean;
}

export function rawRequest(port: number, request: Buffer, options: RawRequestOptions): Promise<RawAnswer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (ending: RawAnswer['ending']): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseAnswer(received, options.bodyless ?? false);
      resolve({
        status: parsed?.status,
        headers: parsed?.headers ?? {},
        body: parsed?.body ?? Buffer.alloc(0),
        ending: parsed?.complete ? 'answered' : ending,
        ms: Date.now() - started,
      });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (parseAnswer(received, options.bodyless ?? false)?.complete) finish('answered');
    });
    // A server that answers early (413, 400) and closes may reset the connection while we still write.
    socket.on('error', () => finish('closed'));
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.write(request, () => {
      if (options.halfClose) socket.end();
    });
  });
}

interface ParsedAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  complete: boolean;
}

/** The first final answer in what the server sent so far (interim 1xx answers, such as 100 Continue, are skipped). */
function parseAnswer(data: Buffer, bodyless: boolean): ParsedAnswer | undefined {
  let offset = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset);
    if (headEnd === -1) return undefined;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!match) return undefined;
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    if (bodyless || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), complete: true };
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) return parseChunked(status, headers, data.subarray(bodyStart));
    const length = headers['content-length'];
    if (length !== undefined) {
      const body = data.subarray(bodyStart, bodyStart + Number(length));
      return { status, headers, body, complete: body.length === Number(length) };
    }
    // No length: the body runs until the server closes the connection.
    return { status, headers, body: data.subarray(bodyStart), complete: false };
  }
}

function parseChunked(status: number, headers: Record<string, string>, data: Buffer): ParsedAnswer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) break;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) break;
    if (size === 0) return { status, headers, body: Buffer.concat(parts), complete: true };
    if (data.length < lineEnd + 2 + size + 2) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return { status, headers, body: Buffer.concat(parts), complete: false };
}
