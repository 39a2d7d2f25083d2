import { z } from 'zod';
import { AUTH_MODE_FACTS, AUTH_MODES } from '../credentials/auth-modes.js';
import { parseAnsweredHost } from './answered-base-url.js';

/** The modes a template's `auth_mode` may name; the catalog's readers (docs, checks) take them from here. */
export { AUTH_MODES } from '../credentials/auth-modes.js';

const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

/** A field an end user fills in (connection parameter or credential); the Connect UI renders forms from these. */
export const FieldSchema = z
  .object({
    type: z.literal('string').default('string'),
    title: z.string().min(1),
    description: z.string().optional(),
    example: z.string().optional(),
    pattern: z.string().optional(),
    /** `pem`: a PEM block (a certificate, a key), which forms take as several lines or from a file. */
    format: z.enum(['hostname', 'uri', 'uuid', 'email', 'pem']).optional(),
    optional: z.boolean().optional(),
    default_value: z.string().optional(),
    secret: z.boolean().optional(),
    hidden: z.boolean().optional(),
    order: z.number().int().optional(),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    doc_section: z.string().optional(),
    /** A closed set of values (a region, an environment): the only values accepted, whatever `pattern` says. */
    enum: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .transform((field) => (field.enum ? { ...field, pattern: enumPattern(field.enum) } : field));

/** The anchored regular expression that matches exactly the values of a closed set. */
export function enumPattern(values: string[]): string {
  return `^(?:${values.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`;
}

/** A parameter name a provider uses for one of OAuth's own, or `false` to leave that parameter out. */
const renamedParam = z.union([z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a parameter name is letters, digits, "_", "." and "-"'), z.literal(false)]);

/**
 * The names a provider's authorization request gives OAuth's own parameters where they differ from RFC 6749's
 * (TikTok's `app_id` for `client_id`); `false` leaves one out. `state` always goes as `state`: the callback needs it.
 */
const AuthorizationParamNamesSchema = z
  .object({ client_id: renamedParam, response_type: renamedParam, redirect_uri: renamedParam, scope: renamedParam })
  .partial()
  .strict();

/** The same for the token request's fields (TikTok's `app_id`, `secret` and `auth_code`), in the code exchange and in refreshes. */
const TokenParamNamesSchema = z
  .object({ grant_type: renamedParam, code: renamedParam, redirect_uri: renamedParam, code_verifier: renamedParam, client_id: renamedParam, client_secret: renamedParam, refresh_token: renamedParam })
  .partial()
  .strict();

export const ProxySchema = z
  .object({
    base_url: z.string().min(1),
    headers: stringMap.optional(),
    query: stringMap.optional(),
    retry: z
      .object({ at: z.string().optional(), after: z.string().optional(), remaining: z.string().optional(), error_code: z.number().optional() })
      .strict()
      .optional(),
    decompress: z.boolean().optional(),
  })
  .strict();

/**
 * A request the server makes after every token grant and refresh, with the new access token (Bullhorn's REST
 * login): fields of its answer named in `keep` are kept with the credentials, as secrets (`${BhRestToken}`).
 */
export const PostTokenRequestSchema = z
  .object({
    url: z.string().min(1),
    method: z.enum(['GET', 'POST']).optional(),
    /** Filled with `${accessToken}` and `${connectionConfig.*}`. */
    query: stringMap.optional(),
    headers: stringMap.optional(),
    keep: z.array(z.string().regex(/^[A-Za-z_][\w-]*$/, 'a field name of the answer')).min(1),
  })
  .strict();

/**
 * The API's base URL as the provider's answer names it (`${apiBaseUrl}` in `proxy.base_url`, `refresh_url`):
 * a field of the token answer or of the post-token request's answer, on one of `hosts`.
 */
export const ApiBaseUrlSchema = z
  .object({
    from: z.enum(['token_response', 'post_token_request']).optional(),
    field: z.string().min(1),
    hosts: z.array(z.string().refine((entry) => parseAnsweredHost(entry) !== undefined, 'a host, host:port or *.domain, optionally with http:// for a local stand-in')).min(1),
  })
  .strict();

/** The modes whose token answers a post-token request or an answered base URL can follow. */
const TOKEN_MODES: readonly string[] = ['OAUTH2', 'OAUTH2_CC'];

const templateShape = {
  display_name: z.string().min(1),
  categories: z.array(z.string().min(1)).optional(),
  auth_mode: z.enum(AUTH_MODES),
  /** The provider's own documentation; the built-in catalog always has it (the catalog check refuses an entry without). */
  docs: z.url().optional(),
  docs_connect: z.url().optional(),
  authorization_url: z.string().min(1).optional(),
  token_url: z.string().min(1).optional(),
  refresh_url: z.string().min(1).optional(),
  request_url: z.string().min(1).optional(),
  authorization_params: stringMap.optional(),
  token_params: stringMap.optional(),
  refresh_params: stringMap.optional(),
  request_params: stringMap.optional(),
  scope_separator: z.string().optional(),
  default_scopes: z.array(z.string()).optional(),
  disable_pkce: z.boolean().optional(),
  authorization_method: z.enum(['body', 'header']).optional(),
  body_format: z.enum(['form', 'json']).optional(),
  token_request_auth_method: z.enum(['basic']).optional(),
  /** Fields of the token answer kept as connection parameters; with `token_response_path`, fields of the object found there. */
  token_response_metadata: z.array(z.string()).optional(),
  redirect_uri_metadata: z.array(z.string()).optional(),
  /** The callback's parameter that carries the authorization code, where it is not `code` (Amazon's `spapi_oauth_code`). */
  authorization_code_param_in_callback: z.string().regex(/^[A-Za-z0-9_.-]+$/).optional(),
  authorization_param_names: AuthorizationParamNamesSchema.optional(),
  token_param_names: TokenParamNamesSchema.optional(),
  /** Where the token sits when the provider's answer wraps it (TikTok's `data`): a dotted path into the answer. */
  token_response_path: z.string().regex(/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/, 'a dotted path of field names').optional(),
  /**
   * Fields a successful token answer carries with these values (TikTok's `code: 0`): an answer without them is
   * the provider's refusal, even in an HTTP 200; its `message` (or `error_description`) says why.
   */
  token_response_success: stringMap.optional(),
  token_expiration_buffer: z.number().int().nonnegative().optional(),
  request_http_method: z.enum(['GET', 'POST', 'PUT']).optional(),
  token_http_method: z.enum(['GET', 'POST', 'PUT']).optional(),
  signature_method: z.enum(['HMAC-SHA1', 'RSA-SHA1', 'PLAINTEXT']).optional(),
  /** Mutual TLS: each connection gives a client certificate and key, presented on the token request and every proxied call. */
  require_client_certificate: z.boolean().optional(),
  base_api_url: z.string().min(1).optional(),
  proxy: ProxySchema.optional(),
  post_token_request: PostTokenRequestSchema.optional(),
  api_base_url: ApiBaseUrlSchema.optional(),
  connection_config: z.record(z.string(), FieldSchema).optional(),
  credentials: z.record(z.string(), FieldSchema).optional(),
};

/**
 * One provider template of the catalog (`providers.yaml`), in the key vocabulary Nango's templates use,
 * so an operator's existing overlay file keeps working.
 */
export const ProviderTemplateSchema = z
  .object(templateShape)
  .strict()
  .superRefine((template, ctx) => {
    // Each mode names the URLs its templates need (src/credentials/auth-modes.ts).
    for (const key of AUTH_MODE_FACTS[template.auth_mode].templateUrls) {
      if (!template[key]) ctx.addIssue({ code: 'custom', path: [key], message: `${template.auth_mode} providers need ${key}` });
    }
    for (const key of ['post_token_request', 'api_base_url'] as const) {
      if (template[key] && !TOKEN_MODES.includes(template.auth_mode)) ctx.addIssue({ code: 'custom', path: [key], message: `only OAUTH2 and OAUTH2_CC providers follow their token answers with ${key}` });
    }
    if (template.api_base_url?.from === 'post_token_request' && !template.post_token_request) {
      ctx.addIssue({ code: 'custom', path: ['api_base_url', 'from'], message: 'names post_token_request, which the template does not have' });
    }
    if (template.require_client_certificate && !AUTH_MODE_FACTS[template.auth_mode].takesClientCertificate) {
      const modes = AUTH_MODES.filter((mode) => AUTH_MODE_FACTS[mode].takesClientCertificate);
      ctx.addIssue({ code: 'custom', path: ['require_client_certificate'], message: `only ${modes.join(', ')} providers can require a client certificate, not ${template.auth_mode}` });
    }
  });

export type ProviderTemplate = z.infer<typeof ProviderTemplateSchema>;

/** As written in a file: an alias entry names another and overrides some of its keys. */
export const RawEntrySchema = z.object({ ...templateShape, alias: z.string().min(1) }).partial().strict();
export type RawEntry = z.infer<typeof RawEntrySchema>;

export const ProviderNameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'provider names are lower-case letters, digits, ".", "_" and "-"');

export const RawCatalogSchema = z.record(ProviderNameSchema, RawEntrySchema);
