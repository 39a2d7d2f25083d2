import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { renderErrorForClient } from '../plugins/error-rendering.js';

export type ProxyErrorCode = 'missing_connection_id' | 'missing_provider_config_key' | 'missing_base_api_url' | 'upstream_unreachable' | 'upstream_timeout';

export function proxyError(code: ProxyErrorCode, message: string): ApiError {
  return new ApiError(code, message);
}

/**
 * The proxy scope's error handler: seed body for seed clients, modern body for modern SDKs
 * (`renderErrorForClient`). Upstream response headers already copied onto the reply are dropped first, so an
 * error raised while the upstream body starts streaming is not sent with the upstream's content-encoding.
 */
export async function renderProxyError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!reply.raw.headersSent) {
    for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
    for (const name of reply.raw.getHeaderNames()) reply.raw.removeHeader(name);
  }
  return renderErrorForClient(error, request, reply);
}
