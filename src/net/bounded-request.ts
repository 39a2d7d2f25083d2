import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ClientTlsOptions } from './client-tls.js';

/**
 * One small request/response exchange with a provider's token endpoint, bounded in time and size, on node:http
 * so the caller chooses the agent (the outbound host guard's, for a host the connection chose). Redirects are
 * answers like any other, never followed: a token endpoint that redirects is refused by the caller.
 */
export interface BoundedRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** For the whole exchange, answer body included. */
  timeoutMs: number;
  maxResponseBytes: number;
  /** Undefined: Node's default agent. */
  agent?: http.Agent | undefined;
  /** A client certificate to present (mutual TLS); the agent keeps sockets with it apart from others. */
  tls?: ClientTlsOptions | undefined;
}

export interface BoundedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The exchange took longer than its deadline. */
export class RequestTimeout extends Error {
  override name = 'TimeoutError';
}

/** The answer was larger than the caller accepts. */
export class ResponseTooLarge extends Error {
  override name = 'ResponseTooLarge';
}

const DECODERS: Record<string, (data: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress),
};

export function sendBoundedRequest(request: BoundedRequest): Promise<BoundedResponse> {
  return new Promise((resolve, reject) => {
    const transport = request.url.protocol === 'https:' ? https : http;
    const headers = { ...request.headers, ...(request.body !== undefined ? { 'content-length': String(Buffer.byteLength(request.body)) } : {}) };
    const outgoing = transport.request(request.url, { method: request.method, headers, ...(request.agent ? { agent: request.agent } : {}), ...request.tls });
    const timer = setTimeout(() => outgoing.destroy(new RequestTimeout(`No complete answer within ${request.timeoutMs} ms.`)), request.timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    outgoing.on('error', fail);
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > request.maxResponseBytes) outgoing.destroy(new ResponseTooLarge(`The answer is larger than ${request.maxResponseBytes} bytes.`));
        else chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('end', () => {
        clearTimeout(timer);
        const encoding = String(response.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
        const decode = DECODERS[encoding];
        const body = Buffer.concat(chunks);
        const decoded = decode ? decode(body, { maxOutputLength: request.maxResponseBytes }) : Promise.resolve(body);
        decoded.then(
          (data) => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: data }),
          () => reject(new ResponseTooLarge(`The ${encoding} answer could not be decoded within ${request.maxResponseBytes} bytes.`)),
        );
      });
    });
    outgoing.end(request.body);
  });
}
