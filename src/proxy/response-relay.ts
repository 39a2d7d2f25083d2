import { PassThrough, type Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { proxyError } from './proxy-errors.js';
import { type ExchangeAbort, UpstreamAbort } from './exchange-abort.js';
import type { UpstreamAnswer, UpstreamHeaders } from './upstream-answer.js';
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
export function relayedHeaders(all: UpstreamHeaders, decoded: boolean): UpstreamHeaders {
  // Headers the upstream's Connection header names are hop-by-hop too; most answers name none.
  const connection = all['connection'];
  const named = connection === undefined ? undefined : new Set(String(connection).split(',').map((name) => name.trim().toLowerCase()));
  const headers: UpstreamHeaders = {};
  for (const name in all) {
    const value = all[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || name.startsWith('proxy-')) continue;
    if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
    headers[name] = value;
  }
  return headers;
}

/**
 * The body sent back to the client: the upstream's, decoded if asked, with an inactivity limit (`idleMs`
 * without a byte from the upstream aborts the exchange) and failures turned into the proxy's own errors, so a
 * body that breaks before its first byte is answered 502/504 rather than a bare 500.
 */
export function relayBody(answer: UpstreamAnswer, decoder: Transform | undefined, idleMs: number, abort: ExchangeAbort): Readable {
  const idle = idleWatch(abort, idleMs);
  const source = answer.stream(idle.arm, () => {
    idle.stop();
    return bodyFailure(abort, idleMs);
  });
  idle.arm();
  source.once('end', idle.stop);
  source.once('close', () => {
    idle.stop();
    // The client went away (or Fastify dropped the payload): stop reading the upstream.
    if (!answer.complete) answer.abort(new UpstreamAbort('client_gone'));
  });
  if (!decoder) return withQuietErrors(source);
  const out = withQuietErrors(new PassThrough());
  source.once('error', (error) => {
    decoder.destroy();
    out.destroy(error);
  });
  decoder.once('error', (error) => {
    idle.stop();
    // Nothing more of the upstream's body is wanted.
    answer.abort(error);
    out.destroy(abort.aborted ? bodyFailure(abort, idleMs) : proxyError('upstream_unreachable', `The upstream response could not be decompressed (${error.message}).`));
  });
  source.pipe(decoder).pipe(out);
  out.once('close', () => {
    if (!answer.complete) answer.abort(new UpstreamAbort('client_gone'));
  });
  return out;
}

/**
 * Fastify attaches its own listeners only once the onSend hooks have run; an error before that must not be an
 * unhandled 'error' event. Fastify still sees it: it checks the stream's errored state when it starts.
 */
function withQuietErrors<T extends Readable>(stream: T): T {
  stream.on('error', () => undefined);
  return stream;
}

/** Bodies up to this size, with a declared length, are read whole and sent in one piece. */
export const WHOLE_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Whether an undecoded body is declared small enough to be sent in one piece. Most API answers are a few
 * kilobytes: reading them whole (they have usually arrived with the headers) and answering with one write saves
 * the stream plumbing a large body needs, and a body that breaks is still answered 502.
 */
export function isSmallWholeBody(headers: UpstreamHeaders): boolean {
  const declared = headers['content-length'];
  return typeof declared === 'string' && /^\d{1,6}$/.test(declared) && Number(declared) <= WHOLE_BODY_LIMIT_BYTES;
}

/**
 * Reads a body of the declared length (undici checks it against the length), with the same inactivity limit
 * and error mapping as relayBody. Most small answers have arrived with their headers: `wholeNow` takes those.
 */
export async function readWholeBody(answer: UpstreamAnswer, idleMs: number, abort: ExchangeAbort): Promise<Buffer> {
  const idle = idleWatch(abort, idleMs);
  idle.arm();
  try {
    return await answer.whole(idle.arm);
  } catch {
    throw bodyFailure(abort, idleMs);
  } finally {
    idle.stop();
  }
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
