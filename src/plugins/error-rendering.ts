import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, statusOf, type ErrorCode } from '../errors.js';

/**
 * Turns anything thrown in a route into an ApiError: ours pass through, Fastify's request-shape errors
 * become 4xx with a plain message, a database that cannot be reached becomes 503, and the rest a quiet 500
 * (logged in full, never shown: a 5xx message could leak internals).
 */
export function toApiError(error: unknown, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  const fastifyError = error as Partial<FastifyError> & { code?: string };
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'The request body is larger than the server accepts.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', `Unsupported Content-Type "${request.headers['content-type'] ?? ''}"; send application/json.`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('missing_body', 'The request body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('bad_request', 'The Content-Length header does not match the body.');
  }
  // PostgreSQL refuses NUL characters in text and JSON; a value that slipped past validation is still the client's.
  if ((error as { code?: string }).code === '22021' || (error as { code?: string }).code === '22P05') {
    return new ApiError('invalid_body', 'A value contains a character that cannot be stored (NUL).');
  }
  if (isDatabaseUnavailable(error)) {
    request.log.error({ err: error }, 'The database cannot be reached; answering 503.');
    return new ApiError('database_unavailable', 'The database is unavailable; try again in a few seconds.');
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new ApiError('bad_request', fastifyError.message ?? 'Bad request.');
  }
  request.log.error({ err: error }, 'Unexpected error while handling a request.');
  return new ApiError('server_error', 'An unexpected error occurred on the server; see its log for details.');
}

// 57014: a statement cancelled by the statement timeout (NANGO_DB_STATEMENT_TIMEOUT_MS); ETIMEDOUT is also the
// client-side query deadline's (src/db/query-timeouts.ts).
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57014', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const candidate = error as { name?: string; code?: string; message?: string };
  if (candidate?.name === 'KnexTimeoutError') return true;
  if (candidate?.code && CONNECTION_ERROR_CODES.has(candidate.code)) return true;
  // "timeout expired": a pg.Client's own connectionTimeoutMillis (no code), e.g. a container network's name
  // lookup hanging at start; without it the start-up retry gave up at once with "Cannot start: timeout expired".
  return /Connection terminated|Client has encountered a connection error|connection is closed|^timeout expired$/i.test(candidate?.message ?? '');
}

/** Seed-era body: `{error, type, payload}`. */
export async function renderSeedError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const apiError = toApiError(error, request);
  await reply.status(apiError.status).send(seedErrorBody(apiError));
}

function seedErrorBody(apiError: ApiError): unknown {
  return { error: apiError.message, type: apiError.code, payload: apiError.payload };
}

/** Where the modern server names or answers a condition differently from the seed one. */
const MODERN_CODES: Partial<Record<ErrorCode, ErrorCode>> = {
  unkown_connection: 'unknown_connection',
  invalid_secret_key: 'unknown_account',
};

/** Modern body: `{error: {code, message, errors?, payload?}}`. */
export async function renderModernError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { status, body } = modernErrorBody(toApiError(error, request));
  await reply.status(status).send(body);
}

function modernErrorBody(apiError: ApiError): { status: number; body: unknown } {
  const code = MODERN_CODES[apiError.code] ?? apiError.code;
  const { errors, ...payload } = apiError.payload as { errors?: unknown };
  const body = {
    error: {
      code,
      message: apiError.message,
      ...(errors !== undefined ? { errors } : {}),
      ...(Object.keys(payload).length > 0 ? { payload } : {}),
    },
  };
  return { status: statusOf(code), body };
}

/**
 * For routes both generations call (`/proxy/*`): modern SDKs announce themselves with headers the seed SDK
 * never sent, and get the modern body; everyone else gets the seed body.
 */
export async function renderErrorForClient(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return isModernClient(request) ? renderModernError(error, request, reply) : renderSeedError(error, request, reply);
}

export function isModernClient(request: FastifyRequest): boolean {
  const headers = request.headers;
  return headers['base-url-override'] !== undefined || headers['nango-activity-log-id'] !== undefined || headers['nango-is-sync'] !== undefined || /nango-node-client\/0\.(?:[2-9]\d|\d{3})/.test(headers['user-agent'] ?? '');
}

/** Routes of the modern API, for errors raised before a route (and so its error handler) is known. */
const MODERN_PREFIXES = ['/connections', '/integrations', '/providers', '/connect/', '/audit-log', '/api-auth/', '/auth/', '/oauth2/', '/sync', '/records', '/action'];

export async function renderErrorForPath(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return isModernPath(request) ? renderModernError(error, request, reply) : renderErrorForClient(error, request, reply);
}

/** The status and body renderErrorForPath would send, for a hook that replaces a payload rather than sending one. */
export function errorBodyForPath(apiError: ApiError, request: FastifyRequest): { status: number; body: unknown } {
  return isModernPath(request) || isModernClient(request) ? modernErrorBody(apiError) : { status: apiError.status, body: seedErrorBody(apiError) };
}

function isModernPath(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0] ?? '';
  return MODERN_PREFIXES.some((prefix) => path.startsWith(prefix));
}

const MAX_JSON_DEPTH = 64;

/**
 * What PostgreSQL or the server could not store from a parsed JSON body: NUL characters (text and jsonb
 * refuse them) and nesting deeper than any real document (serialising it again would overflow the stack).
 */
export function unstorableJson(value: unknown): string | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return 'A value in the request body contains a NUL character, which cannot be stored.';
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= MAX_JSON_DEPTH) return `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`;
    for (const [key, child] of Object.entries(node)) {
      if (key.includes('\u0000')) return 'A key in the request body contains a NUL character, which cannot be stored.';
      stack.push({ node: child, depth: depth + 1 });
    }
  }
  return undefined;
}
