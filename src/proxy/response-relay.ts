import type { IncomingMessage } from 'node:http';
import { PassThrough, Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { proxyError } from './proxy-errors.js';
import { type ExchangeAbort, UpstreamAbort } from './exchange-abort.js';
import { abortError } from './upstream-client.js';

/** Connection-level headers (RFC 9110 §7.6.1) that describe one hop, never the message relayed. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization']);

/** The decoder for a single known content coding, or undefined (identity, unknown, or several codings stacked). */
export function decoderFor(contentEncoding: string | undefined): Transform | undefined {
  // Like browsers, accept a gzip or deflate stream whose final block is missing.
  const lenient = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  switch (contentEncoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip(lenient);
    case 'deflate':
      return zlib.createInflate(lenient);
    case 'br':
      return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    default:
      return undefined;
  }
}

/** The upstream's response headers minus hop-by-hop ones (and the coding and length when the body is decoded). */
export function relayedHeaders(response: IncomingMessage, decoded: boolean): Record<string, string | string[]> {
  // Headers the upstream's Connection header names are hop-by-hop too; most answers name none.
  const connection = response.headers.connection;
  const named = connection === undefined ? undefined : new Set(connection.split(',').map((name) => name.trim().toLowerCase()));
  const headers: Record<string, string | string[]> = {};
  const all = response.headers;
  for (const name in all) {
    const value = all[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || name.startsWith('proxy-')) continue;
    if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
    headers[name] = value;
  }
  return headers;
}

/**
 * The body sent back to the client: the upstream stream (decoded if asked), with an inactivity limit
 * (`idleMs` without a byte from the upstream aborts the exchange) and failures turned into the proxy's own
 * errors, so a body that breaks before its first byte is answered 502/504 rather than a bare 500.
 */
export function relayBody(response: IncomingMessage, decoder: Transform | undefined, idleMs: number, abort: ExchangeAbort): Readable {
  const out = new PassThrough();
  // Fastify attaches its own listeners only once the onSend hooks have run; an error before that must not be
  // an unhandled 'error' event. Fastify still sees it: it checks the stream's errored state when it starts.
  out.on('error', () => undefined);
  const idle = idleWatch(abort, idleMs);
  let failed = false;
  const fail = (error: unknown, stage: 'upstream' | 'decoder'): void => {
    if (failed) return;
    failed = true;
    idle.stop();
    const mapped =
      stage === 'decoder' && !abort.aborted
        ? proxyError('upstream_unreachable', `The upstream response could not be decompressed (${(error as Error).message}).`)
        : bodyFailure(abort, idleMs);
    response.destroy();
    decoder?.destroy();
    out.destroy(mapped);
  };
  const watch = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      idle.arm();
      callback(null, chunk);
    },
  });
  idle.arm();
  response.on('error', (error) => fail(error, 'upstream'));
  response.on('close', () => {
    if (!response.complete) fail(new Error('closed early'), 'upstream');
  });
  watch.on('error', (error) => fail(error, 'upstream'));
  watch.on('end', () => idle.stop());
  response.pipe(watch);
  if (decoder) {
    decoder.on('error', (error) => fail(error, 'decoder'));
    watch.pipe(decoder).pipe(out);
  } else {
    watch.pipe(out);
  }
  out.on('close', () => {
    idle.stop();
    // The client went away (or Fastify dropped the payload): stop reading the upstream.
    if (!response.complete) response.destroy();
  });
  return out;
}

/** Bodies up to this size, with a declared length, are read whole and sent in one piece. */
export const WHOLE_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * The declared length of an undecoded body small enough to be sent in one piece, or undefined. Most API answers
 * are a few kilobytes: reading them whole (they have usually arrived with the headers) and answering with one
 * write saves the stream plumbing a large body needs, and a body that breaks is still answered 502.
 */
export function wholeBodyLength(response: IncomingMessage): number | undefined {
  const declared = response.headers['content-length'];
  if (declared === undefined || !/^\d{1,6}$/.test(declared)) return undefined;
  const length = Number(declared);
  return length <= WHOLE_BODY_LIMIT_BYTES ? length : undefined;
}

/**
 * The body, when all of it arrived with the headers (most small answers do: the continuation that reads it runs
 * after the parser has taken the whole packet): taken at once, without the listeners, promise, timer and copy
 * readWholeBody needs for a body still on its way. Undefined otherwise.
 */
export function arrivedWholeBody(response: IncomingMessage, length: number): Buffer | undefined {
  if (!response.complete || response.readableLength !== length) return undefined;
  // A stream that has ended hands over all it holds: read(length) of exactly what it holds is never null then.
  const body = length === 0 ? Buffer.alloc(0) : (response.read(length) as Buffer | null);
  if (body === null) return undefined;
  // Lets the emptied stream end, which hands its socket back to the agent.
  response.resume();
  return body;
}

/**
 * Reads a body of the declared length, with the same inactivity limit and error mapping as relayBody. Like
 * relayBody it needs no abort listener of its own: an abort (idle, deadline, client gone) destroys the upstream
 * request the exchange's abort was given to, and the response then closes incomplete.
 */
export function readWholeBody(response: IncomingMessage, length: number, idleMs: number, abort: ExchangeAbort): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const idle = idleWatch(abort, idleMs);
    const done = (error?: unknown): void => {
      idle.stop();
      if (error === undefined) return resolve(Buffer.concat(chunks, received));
      response.destroy();
      reject(bodyFailure(abort, idleMs));
    };
    idle.arm();
    response.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
      idle.arm();
    });
    response.once('end', () => (received === length && response.complete ? done() : done(new Error('length mismatch'))));
    response.once('error', (error) => done(error));
    response.once('close', () => {
      if (!response.complete) done(new Error('closed early'));
    });
  });
}

/** The inactivity limit on an upstream body: `arm` at the start and at every chunk; silence for `idleMs` aborts the exchange. */
function idleWatch(abort: ExchangeAbort, idleMs: number): { arm(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    arm: () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new UpstreamAbort('idle')), idleMs);
    },
    stop: () => clearTimeout(timer),
  };
}

/** What a body that did not arrive whole is answered with: the abort's reason (timeout, client gone), or a broken upstream. */
function bodyFailure(abort: ExchangeAbort, idleMs: number): Error {
  return abort.aborted
    ? abortError(abort.reason, idleMs)
    : proxyError('upstream_unreachable', 'The upstream API broke its connection while sending the response.');
}
