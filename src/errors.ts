/**
 * The one error type of the server. Services and routes throw it with a code; the error plugin
 * renders it in the wire format of the route family (seed or modern). Status codes live here only.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly payload: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = STATUS_BY_CODE[code];
  }
}

/** Codes keep Nango's spelling on the wire, typos included (`unkown_connection`), so existing clients match on them. */
const STATUS_BY_CODE = {
  // authentication
  missing_auth_header: 401,
  malformed_auth_header: 401,
  invalid_secret_key: 401,
  unknown_account: 401,
  invalid_connect_session_token_format: 401,
  unknown_connect_session_token: 401,
  expired_connect_session_token: 401,
  forbidden: 403,
  too_many_requests: 429,
  missing_hmac: 401,
  invalid_hmac: 401,
  invalid_public_key: 401,
  public_connect_disabled: 403,
  // request shape
  missing_body: 400,
  invalid_json: 400,
  invalid_body: 400,
  invalid_query_params: 400,
  invalid_uri_params: 400,
  invalid_headers: 400,
  bad_request: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  // seed validation
  missing_provider_config: 400,
  missing_provider_template: 400,
  missing_client_id: 400,
  missing_client_secret: 400,
  missing_scopes: 400,
  missing_connection: 400,
  missing_connection_id: 400,
  missing_oauth_type: 400,
  missing_oauth_token: 400,
  missing_oauth_token_secret: 400,
  unknown_oauth_type: 400,
  missing_access_token: 400,
  // lookups
  unknown_provider_config: 400,
  unkown_connection: 400,
  unknown_provider_template: 400,
  duplicate_provider_config: 400,
  invalid_provider_config_key: 400,
  not_found: 404,
  unknown_connection: 404,
  not_supported: 501,
  integration_not_allowed: 403,
  resource_capped: 400,
  connection_test_failed: 400,
  method_not_allowed: 405,
  // where a connection may send its credentials
  connection_host_not_allowed: 403,
  // the proxy
  missing_provider_config_key: 400,
  missing_base_api_url: 400,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  // a provider refused or failed a token refresh
  refresh_token_external_error: 502,
  // server side
  /** A stored connection whose credentials do not parse as their mode's (written by hand, or by another program). */
  invalid_stored_credentials: 500,
  database_unavailable: 503,
  server_stopping: 503,
  server_error: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(STATUS_BY_CODE, code);
}

export function statusOf(code: ErrorCode): number {
  return STATUS_BY_CODE[code];
}
