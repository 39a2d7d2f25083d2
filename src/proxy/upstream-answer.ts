import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Response headers as node:http names them: lower-case, Set-Cookie a list, other repeats joined or the first kept. */
export type UpstreamHeaders = Record<string, string | string[]>;

/** Headers node:http keeps the first of when repeated (its IncomingMessage rule); the proxy relays them the same way. */
const FIRST_ONLY = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent']);

/**
 * One attempt at the upstream, as undici's dispatcher reports it: `arrived` resolves once the status and
 * headers have come (or rejects with what kept them from coming), then the body is taken one way: `whole()`
 * (all of it, once it has arrived; `wholeNow` when it already has), `stream()` (relayed as it comes, paused
 * while the client reads slowly) or `discard()` (a retried or followed answer, read to its end so its socket
 * serves the next call). Until one is chosen the body's first chunks are held. `abort` ends the attempt; an
 * abort before undici has begun the request ends it as it begins.
 */
export class UpstreamAnswer implements Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: UpstreamHeaders = {};
  /** True once the whole body has arrived. */
  complete = false;
  readonly arrived: Promise<UpstreamAnswer>;

  private settleHeaders!: { resolve: (answer: UpstreamAnswer) => void; reject: (error: Error) => void };
  private headersDone = false;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private failure: Error | undefined;
  private sink: BodySink | undefined;
  private abortRequest: ((error?: Error) => void) | undefined;
  private abortReason: Error | undefined;
  /** undici's resume of this attempt's reading, and the same once it has been paused (until the stream asks for more). */
  private resume: (() => void) | undefined;
  private resumeReading: (() => void) | undefined;

  constructor(private readonly progress: (() => void) | undefined) {
    this.arrived = new Promise((resolve, reject) => (this.settleHeaders = { resolve, reject }));
  }

  /** Ends the attempt (deadline, client gone): its headers or body fail with `reason`, its socket is closed. */
  abort(reason: Error): void {
    if (this.complete || this.failure) return;
    this.abortReason ??= reason;
    if (this.abortRequest) this.abortRequest(reason);
    else this.onError(reason);
  }

  /** The whole body, which has arrived (`complete`): taken at once, without a promise. */
  wholeNow(): Buffer {
    return this.takeHeld();
  }

  /** The whole body, once it has all arrived (read only for bodies of a known, small length); `chunkArrived` at each chunk. */
  whole(chunkArrived: () => void): Promise<Buffer> {
    if (this.complete) return Promise.resolve(this.takeHeld());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.sink = { data: () => (chunkArrived(), true), end: () => resolve(this.takeHeld()), fail: reject, holds: true };
    });
  }

  /**
   * The body as a stream: what arrived so far, then each chunk as it comes (`chunkArrived` at each), with undici
   * paused while the stream is full; it ends with an error, as `fail` maps it, when the body breaks.
   */
  stream(chunkArrived: () => void, fail: (error: Error) => Error): Readable {
    const out = new Readable({
      read: () => {
        const resume = this.resumeReading;
        this.resumeReading = undefined;
        resume?.();
      },
    });
    for (const chunk of this.held) out.push(chunk);
    this.held = [];
    this.heldBytes = 0;
    if (this.failure) out.destroy(fail(this.failure));
    else if (this.complete) out.push(null);
    else {
      this.sink = {
        data: (chunk) => {
          chunkArrived();
          return out.push(chunk);
        },
        end: () => out.push(null),
        fail: (error) => out.destroy(fail(error)),
        holds: false,
      };
    }
    return out;
  }

  /** Reads the rest of the body and drops it, so the socket goes back to the pool. */
  discard(): void {
    this.held = [];
    this.heldBytes = 0;
    this.sink = { data: () => true, end: () => undefined, fail: () => undefined, holds: false };
  }

  // undici's handler: one attempt, one socket.

  onConnect(abort: (error?: Error) => void): void {
    this.abortRequest = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onBodySent(): void {
    this.progress?.();
  }

  /** Called by undici once the request (body included) is written; not in its handler type, which omits it. */
  onRequestSent(): void {
    this.progress?.();
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx interim answers (100 Continue, 103 Early Hints) precede the real one.
    if (statusCode < 200 && statusCode !== 101) return true;
    this.statusCode = statusCode;
    this.headers = parseHeaders(raw);
    this.headersDone = true;
    this.resume = resume;
    this.settleHeaders.resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const sink = this.sink;
    if (!sink || sink.holds) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      sink?.data(chunk);
      return true;
    }
    if (sink.data(chunk)) return true;
    this.resumeReading = this.resume;
    return false;
  }

  onComplete(): void {
    this.complete = true;
    this.sink?.end();
  }

  onError(error: Error): void {
    if (this.complete || this.failure) return;
    // An abort's own reason, whatever undici wrapped it in.
    this.failure = this.abortReason ?? error;
    if (!this.headersDone) {
      this.headersDone = true;
      this.settleHeaders.reject(this.failure);
      return;
    }
    this.held = [];
    this.sink?.fail(this.failure);
  }

  private takeHeld(): Buffer {
    const held = this.held;
    this.held = [];
    const bytes = this.heldBytes;
    this.heldBytes = 0;
    return held.length === 1 ? held[0]! : Buffer.concat(held, bytes);
  }
}

interface BodySink {
  /** False: pause undici until the consumer asks for more. */
  data(chunk: Buffer): boolean;
  end(): void;
  fail(error: Error): void;
  /** Whether arriving chunks stay held (the whole body is wanted). */
  holds: boolean;
}

function parseHeaders(raw: Buffer[]): UpstreamHeaders {
  const headers: UpstreamHeaders = {};
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index]!.toString('latin1').toLowerCase();
    const value = raw[index + 1]!.toString('latin1');
    const existing = headers[name];
    if (existing === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(existing)) existing.push(value);
    else if (!FIRST_ONLY.has(name)) headers[name] = `${existing}, ${value}`;
  }
  return headers;
}
