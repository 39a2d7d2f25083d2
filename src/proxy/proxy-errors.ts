import { ApiError } from '../errors.js';
import { clientShapedErrors, type ErrorRenderer } from '../plugins/error-rendering.js';

export type ProxyErrorCode = 'missing_connection_id' | 'missing_provider_config_key' | 'missing_base_api_url' | 'upstream_unreachable' | 'upstream_timeout';

export function proxyError(code: ProxyErrorCode, message: string): ApiError {
  return new ApiError(code, message);
}

/**
 * The proxy's errors: seed body for seed clients, modern body for modern SDKs. Upstream response headers
 * already copied onto the reply are dropped first, so an error raised while the upstream body starts
 * streaming is not sent with the upstream's content-encoding.
 */
export const proxyErrors: ErrorRenderer = {
  body: clientShapedErrors.body,
  render: async (error, request, reply) => {
    if (!reply.raw.headersSent) {
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      for (const name of reply.raw.getHeaderNames()) reply.raw.removeHeader(name);
    }
    return clientShapedErrors.render(error, request, reply);
  },
};
