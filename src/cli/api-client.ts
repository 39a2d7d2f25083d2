import { CliError, ExitCode } from './errors.js';
import { oneLine } from './output.js';

/** The server's own URL default, as the seed-era CLI had it. */
export const DEFAULT_HOSTPORT = 'http://localhost:3003';
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface ApiClientOptions {
  /** NANGO_HOSTPORT, already checked with `parseHostport`. */
  baseUrl: string;
  /** NANGO_SECRET_KEY; no Authorization header when absent (a server without a key is open). */
  secretKey: string | undefined;
  timeoutMs: number;
  userAgent: string;
}

export interface ApiRequest {
  query?: Record<string, string | undefined>;
  body?: unknown;
}

export interface ApiResponse {
  status: number;
  /** The parsed JSON body; undefined for an empty body. */
  body: unknown;
}

/**
 * The server's seed-era HTTP API (`/config`, `/connection`) over Node's fetch. A request either returns
 * the 2xx answer or throws a CliError carrying the exit code: 1 for an error answer, 3 when the server
 * cannot be reached or does not answer in time, 4 when it refuses the secret key.
 */
export class ApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  async request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, request: ApiRequest = {}): Promise<ApiResponse> {
    const url = new URL(this.options.baseUrl + path);
    for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(name, value);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.options.userAgent };
    if (this.options.secretKey) headers['authorization'] = `Bearer ${this.options.secretKey}`;
    if (request.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
    let text: string;
    try {
      // The signal covers the whole exchange, body included: a server that stalls mid-answer times out too.
      response = await fetch(url, {
        method,
        headers,
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
        // A redirect is reported, not followed: following it could send the secret key somewhere unexpected.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new CliError(`Cannot reach the server at ${this.options.baseUrl}: ${this.describeFailure(error)}`, ExitCode.unreachable);
    }

    const body = parseJson(text);
    if (response.status === 401) throw this.authenticationError(body);
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      throw new CliError(
        `Error: the server at ${this.options.baseUrl} answered HTTP ${response.status}${location ? ` redirecting to ${oneLine(location)}` : ''}; set NANGO_HOSTPORT to the address the API is served at.`,
        ExitCode.failed,
      );
    }
    if (response.status >= 400) throw new CliError(`Error: ${describeErrorAnswer(response, body)}`, ExitCode.failed);
    if (body === NOT_JSON) throw this.unexpectedAnswer(method, path);
    return { status: response.status, body };
  }

  /** The answer's body as an object holding `field`; anything else means NANGO_HOSTPORT is not a Nango-compatible server. */
  expectObject(response: ApiResponse, method: string, path: string, field?: string): Record<string, unknown> {
    const body = response.body;
    if (!isObject(body) || (field !== undefined && !(field in body))) throw this.unexpectedAnswer(method, path);
    return body;
  }

  /** The error for an answer that is not what a Nango-compatible server sends. */
  unexpectedAnswer(method: string, path: string): CliError {
    return new CliError(
      `Error: the answer to ${method} ${path} is not what a Nango-compatible server sends; is NANGO_HOSTPORT (${this.options.baseUrl}) the right address?`,
      ExitCode.failed,
    );
  }

  private authenticationError(body: unknown): CliError {
    const type = isObject(body) && typeof body['type'] === 'string' ? ` (${oneLine(body['type'])})` : '';
    const message = this.options.secretKey
      ? `Authentication failed: the server at ${this.options.baseUrl} rejected the secret key in NANGO_SECRET_KEY${type}.`
      : `Authentication failed: the server at ${this.options.baseUrl} requires a secret key; set NANGO_SECRET_KEY${type}.`;
    return new CliError(message, ExitCode.unauthenticated);
  }

  private describeFailure(error: unknown): string {
    const name = (error as { name?: unknown })?.name;
    if (name === 'TimeoutError') {
      return `no answer within ${formatSeconds(this.options.timeoutMs)} (wait longer with --timeout <seconds>)`;
    }
    return describeNetworkError(error);
  }
}

const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** `<message> (<type>)` from a seed error body, the modern `{error: {code, message}}` or, failing both, the HTTP status. */
function describeErrorAnswer(response: Response, body: unknown): string {
  if (isObject(body)) {
    const error = body['error'];
    if (typeof error === 'string') {
      const type = typeof body['type'] === 'string' ? ` (${oneLine(body['type'])})` : '';
      return `${oneLine(error)}${type}`;
    }
    if (isObject(error) && typeof error['message'] === 'string') {
      const code = typeof error['code'] === 'string' ? ` (${oneLine(error['code'])})` : '';
      return `${oneLine(error['message'])}${code}`;
    }
  }
  return `the server answered HTTP ${response.status}${response.statusText ? ` ${oneLine(response.statusText)}` : ''} without an error message`;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'the connection closed before an answer',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'no answer in time',
};

/** fetch's "fetch failed" hides the reason in `cause` (an AggregateError when both IPv6 and IPv4 were tried). */
function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause ?? error;
  const code = errorCode(cause) ?? errorCode((cause as { errors?: unknown[] })?.errors?.[0]);
  if (code && REASONS[code]) return REASONS[code];
  if (code && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `TLS failed (${code})`;
  const message = (cause as { message?: unknown })?.message;
  return oneLine(typeof message === 'string' && message ? message : String(cause)) + (code ? ` (${code})` : '');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** NANGO_HOSTPORT as a base URL without a trailing slash; a path prefix (a server behind a proxy) is kept. */
export function parseHostport(value: string | undefined): string {
  const text = value === undefined || value.trim() === '' ? DEFAULT_HOSTPORT : value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    throw new CliError(`NANGO_HOSTPORT must be an http(s) URL such as ${DEFAULT_HOSTPORT} (got "${oneLine(text)}").`, ExitCode.usage);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
