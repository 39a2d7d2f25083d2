import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../db/database-unavailable.js';
import { ApiError, statusOf, type ErrorCode } from '../errors.js';

/**
 * How a route family words its errors. `render` is the scope's error handler; `body` is what it would send,
 * for a hook that replaces an answer rather than sending one (the auth-failure limit's 429).
 */
export interface ErrorRenderer {
  render: (error: unknown, request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  body: (apiError: ApiError, request: FastifyRequest) => { status: number; body: unknown };
}

/**
 * Turns anything thrown in a route into an ApiError: ours pass through, Fastify's request-shape errors
 * become 4xx with a plain message, a database that cannot be reached becomes 503, and the rest a quiet 500
 * (logged in full, never shown: a 5xx message could leak internals).
 */
function toApiError(error: unknown, request: FastifyRequest): ApiError {
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

function rendererOf(body: ErrorRenderer['body']): ErrorRenderer {
  return {
    body,
    render: async (error, request, reply) => {
      const answer = body(toApiError(error, request), request);
      await reply.status(answer.status).send(answer.body);
    },
  };
}

/** Seed-era body: `{error, type, payload}`. */
function seedBody(apiError: ApiError): { status: number; body: unknown } {
  return { status: apiError.status, body: { error: apiError.message, type: apiError.code, payload: apiError.payload } };
}

/** Where the modern server names or answers a condition differently from the seed one. */
const MODERN_CODES: Partial<Record<ErrorCode, ErrorCode>> = {
  unkown_connection: 'unknown_connection',
  invalid_secret_key: 'unknown_account',
};

/** Modern body: `{error: {code, message, errors?, payload?}}`. */
function modernBody(apiError: ApiError): { status: number; body: unknown } {
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

/** Modern SDKs announce themselves with headers the seed SDK never sent. */
function isModernClient(request: FastifyRequest): boolean {
  const headers = request.headers;
  return headers['base-url-override'] !== undefined || headers['nango-activity-log-id'] !== undefined || headers['nango-is-sync'] !== undefined || /nango-node-client\/0\.(?:[2-9]\d|\d{3})/.test(headers['user-agent'] ?? '');
}

/** The seed API's shape, also the server's own for answers no family owns (an unknown route). */
export const seedErrors = rendererOf(seedBody);

export const modernErrors = rendererOf(modernBody);

/** For routes both generations call (`/proxy/*`): the modern body for modern SDKs, the seed body for everyone else. */
export const clientShapedErrors = rendererOf((apiError, request) => (isModernClient(request) ? modernBody(apiError) : seedBody(apiError)));
