import type { Dispatcher } from 'undici';
import type { ProxyAuthorisation } from '../credentials/credential-mode.js';
import { modeOf, type StoredCredentials } from '../credentials/registry.js';
import { ApiError } from '../errors.js';
import type { ClientTlsOptions } from '../net/client-tls.js';
import type { ConnectionHosts } from '../net/connection-hosts.js';
import { ANSWERED_BASE_URL_PLACEHOLDER } from '../providers/answered-base-url.js';
import { connectionParameterProblem } from '../providers/connection-parameters.js';
import { interpolate, type InterpolationValues } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import type { ConfigRecord } from '../store/configs-store.js';
import type { ConnectionRecord } from '../store/connections-store.js';
import { proxyError } from './proxy-errors.js';

/**
 * Where a proxied call goes and with which credentials. Credentials are only ever applied to URLs on the
 * origin of the base URL (`origin`); `prepare` is called once per attempt, so OAuth 1.0a signatures get a
 * fresh nonce and timestamp each time.
 */
export interface UpstreamPlan {
  /** The first URL: base URL + path + the incoming query string (template query parameters come in `prepare`). */
  target: URL;
  origin: string;
  /** The auth mode of the credentials the connection holds. */
  authMode: string;
  /** True when the request body is form-encoded and an OAuth 1.0a signature must cover its parameters. */
  signsFormBody: boolean;
  /**
   * Where the call's sockets come from: through the outbound host guard's lookup when the connection chose the host,
   * presenting the connection's client certificate (mutual TLS) on every attempt when it has one.
   */
  dispatcher: Dispatcher;
  /** A host the connection chose is called, never redirected from. */
  followsRedirects: boolean;
  /** The URL as logs and the audit trail show it: origin and path (or the text given), credentials the template put in it blanked. */
  describe(url: URL | string): string;
  /** The URL (template query added) and headers of one attempt at a URL of `origin`. */
  prepare(method: string, url: URL, formParams?: URLSearchParams): { url: URL; headers: Record<string, string> };
}

export interface PlanInput {
  template: ProviderTemplate;
  connection: ConnectionRecord;
  config: ConfigRecord;
  /** An allowed `Base-Url-Override`, already checked against the allowlist. */
  baseUrlOverride: URL | undefined;
  /** The raw path after `/proxy/` (still percent-encoded). */
  path: string;
  /** The raw incoming query string, `?…` or empty. */
  search: string;
  /** Caller headers (`Nango-Proxy-*` and Content-Type), lower-case names. */
  forwardedHeaders: Record<string, string>;
  /**
   * Headers the proxy sends unless the credentials, the template or the caller set them (User-Agent…): one of a
   * few objects that never change, so a connection's plan merges each with its fixed headers once.
   */
  defaultHeaders: Readonly<Record<string, string>>;
  hosts: Pick<ConnectionHosts, 'dispatcherFor' | 'directDispatcher' | 'clientTls'>;
}

/**
 * What a call's plan takes from its connection, integration and template alone (a base URL from the template, not
 * an override): the base URL, the interpolated template headers and query, the authorisation and where secrets
 * could show in a URL. Worked out once per opened connection and kept beside its credentials (a WeakMap on the
 * frozen credentials object the store shares between the reads of a kept row), so a busy proxy does not redo it
 * on every call; a refresh or any change gives new credentials, and the old plan goes with the old object.
 */
interface ConnectionPlan {
  base: URL;
  origin: string;
  /** The base URL without its trailing slashes: a call's URL is this, "/" and the proxied path. */
  prefix: string;
  /** The template text the base URL came from (undefined for an override): the host checks need it. */
  baseTemplate: string | undefined;
  secrets: string[];
  templateHeaders: Record<string, string>;
  templateQuery: [string, string][];
  authorisation: ProxyAuthorisation;
  tls: ClientTlsOptions | undefined;
  /** The proxy's defaults, the credentials' headers and the template's, merged once per defaults object (header credentials only). */
  fixedHeaders: WeakMap<object, Record<string, string>>;
}

const connectionPlans = new WeakMap<object, { template: ProviderTemplate; config: ConfigRecord; connectionConfig: unknown; plan: ConnectionPlan }>();

export function planUpstream(input: PlanInput): UpstreamPlan {
  const { template, connection, config } = input;
  const credentials = connection.credentials;
  const part = input.baseUrlOverride ? connectionPlan(input, input.baseUrlOverride) : keptConnectionPlan(input);
  const { base, authorisation, templateQuery, templateHeaders } = part;
  const target = joinUrl(part, input.path, input.search);
  // Checked at every call: the pinned host, and the address the socket connects to.
  const { dispatcher, guarded } =
    part.baseTemplate === undefined ? { dispatcher: input.hosts.directDispatcher(part.tls), guarded: false } : input.hosts.dispatcherFor(template, part.baseTemplate, base, config, part.tls);
  const contentType = input.forwardedHeaders['content-type']?.split(';')[0]?.trim().toLowerCase();

  return {
    target,
    origin: part.origin,
    authMode: credentials.type,
    signsFormBody: authorisation.kind === 'signature' && contentType === 'application/x-www-form-urlencoded',
    dispatcher,
    followsRedirects: !guarded,
    describe: (url) => blank(typeof url === 'string' ? url : `${url.origin}${url.pathname}`, part.secrets),
    prepare(method, url, formParams) {
      if (url.origin !== part.origin) throw new Error('Credentials are only applied on the origin of the base URL.');
      const finalUrl = withQuery(url, templateQuery);
      // Precedence, lowest first: the proxy's defaults, the credentials, the template's headers, the caller's headers.
      if (authorisation.kind === 'signature') {
        const signature = { authorization: authorisation.sign(method, finalUrl, formParams) };
        return { url: finalUrl, headers: { ...input.defaultHeaders, ...signature, ...templateHeaders, ...input.forwardedHeaders } };
      }
      // Each attempt's headers are its own object (sendOnce frames a body's length in place).
      return { url: finalUrl, headers: { ...fixedHeadersOf(part, input.defaultHeaders, authorisation.headers), ...input.forwardedHeaders } };
    },
  };
}

/** The kept plan of this connection, integration and template, or a new one (kept for the next call). */
function keptConnectionPlan(input: PlanInput): ConnectionPlan {
  const credentials = input.connection.credentials as object;
  const connectionConfig = input.connection.connection_config;
  const kept = connectionPlans.get(credentials);
  if (kept && kept.template === input.template && kept.config === input.config && kept.connectionConfig === connectionConfig) return kept.plan;
  const plan = connectionPlan(input, undefined);
  connectionPlans.set(credentials, { template: input.template, config: input.config, connectionConfig, plan });
  return plan;
}

function connectionPlan(input: PlanInput, baseUrlOverride: URL | undefined): ConnectionPlan {
  const { template, connection, config } = input;
  const credentials = connection.credentials;
  const mode = modeOf(credentials);
  const values: InterpolationValues = { connectionConfig: connection.connection_config ?? {}, credentials: mode.templateValues(credentials), apiBaseUrl: answeredBaseUrl(credentials) };
  const baseTemplate = baseUrlOverride ? undefined : template.proxy?.base_url ?? template.base_api_url;
  const base = baseUrlOverride ?? templateBaseUrl(template, config.provider, connection.connection_id, values);
  const templateCarriesAuth = Object.keys(template.proxy?.headers ?? {}).length > 0 || Object.keys(template.proxy?.query ?? {}).length > 0;
  const authorisation = mode.authorise(credentials, { template, integration: config, connectionId: connection.connection_id, templateCarriesAuth });
  const tls = input.hosts.clientTls(authorisation.kind === 'headers' ? authorisation.clientCertificate : undefined);
  if (tls && base.protocol !== 'https:') {
    throw new ApiError('bad_request', `The provider "${config.provider}" requires a TLS client certificate, which only an https:// base URL can carry; "${base.origin}" is not one.`);
  }
  return {
    base,
    origin: base.origin,
    prefix: `${base.origin}${base.pathname.replace(/\/+$/, '')}`,
    baseTemplate,
    secrets: interpolatedSecrets(baseTemplate, values),
    templateHeaders: interpolateEntries(template.proxy?.headers, values),
    templateQuery: Object.entries(interpolateEntries(template.proxy?.query, values)),
    authorisation,
    tls,
    fixedHeaders: new WeakMap(),
  };
}

/** The defaults, then the credentials' headers, then the template's: merged once per connection plan and defaults object. */
function fixedHeadersOf(part: ConnectionPlan, defaults: Readonly<Record<string, string>>, auth: Record<string, string>): Record<string, string> {
  let merged = part.fixedHeaders.get(defaults);
  if (!merged) {
    merged = Object.freeze({ ...defaults, ...auth, ...part.templateHeaders });
    part.fixedHeaders.set(defaults, merged);
  }
  return merged;
}

/**
 * The forms in which credential values filled into the base URL (`/bot${apiKey}`) can appear in a URL's text:
 * as they are, percent-encoded, and as the URL parser writes them into a path.
 */
function interpolatedSecrets(baseTemplate: string | undefined, values: InterpolationValues): string[] {
  const forms = new Set<string>();
  for (const match of (baseTemplate ?? '').matchAll(/\$\{([^}]+)\}/g)) {
    const { value, missing } = interpolate(match[0], { connectionConfig: {}, ...(values.credentials ? { credentials: values.credentials } : {}) });
    if (missing.length > 0 || value === '') continue; // a connection parameter, not a credential
    forms.add(value).add(encodeURIComponent(value)).add(new URL(`http://x/${value}`).pathname.slice(1));
  }
  return [...forms].filter((form) => form.length > 0).sort((a, b) => b.length - a.length);
}

function blank(text: string, secrets: string[]): string {
  return secrets.reduce((redacted, secret) => redacted.split(secret).join('[REDACTED]'), text);
}

function templateBaseUrl(template: ProviderTemplate, provider: string, connectionId: string, values: InterpolationValues): URL {
  const raw = template.proxy?.base_url ?? template.base_api_url;
  if (!raw) {
    throw proxyError(
      'missing_base_api_url',
      `The provider "${provider}" has no proxy base URL: add "proxy.base_url" to its template (NANGO_PROVIDERS_FILE), or send Base-Url-Override to a host the operator allows.`,
    );
  }
  // A closed-set parameter (a region) picks the host: a stored value outside the set never reaches a URL.
  const problem = connectionParameterProblem(template, values.connectionConfig, true);
  if (problem) throw new ApiError('bad_request', `${problem} Fix the connection_config of the connection "${connectionId}".`);
  const { value, missing } = interpolate(raw, values);
  if (missing.includes(ANSWERED_BASE_URL_PLACEHOLDER)) {
    throw new ApiError('bad_request', `The provider "${provider}" has not named the address of its API for the connection "${connectionId}" yet; refresh the connection (force_refresh=true) or have the end user reconnect.`);
  }
  if (missing.length > 0) {
    const names = missing.map((name) => name.replace(/^connectionConfig\.(params\.)?/, ''));
    throw new ApiError('bad_request', `The proxy base URL of the provider "${provider}" needs ${names.map((name) => `"${name}"`).join(', ')}, which the connection "${connectionId}" does not have in its connection_config.`);
  }
  return parseHttpUrl(value, `The proxy base URL of the provider "${provider}" ("${value}") is not an absolute http:// or https:// URL.`);
}

/** The base URL the provider's answer named, kept with the credentials of the modes that follow token answers. */
function answeredBaseUrl(credentials: StoredCredentials): string | undefined {
  const value = (credentials as { api_base_url?: unknown }).api_base_url;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function parseHttpUrl(text: string, message: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ApiError('bad_request', message);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError('bad_request', message);
  return url;
}

/** Base URL (trailing `/` trimmed) + `/` + path (leading `/` trimmed) + query; never leaves the base URL's origin. */
function joinUrl(base: Pick<ConnectionPlan, 'prefix' | 'origin'>, path: string, search: string): URL {
  let url: URL;
  try {
    url = new URL(`${base.prefix}/${path.replace(/^\/+/, '')}${search}`);
  } catch {
    throw new ApiError('bad_request', 'The proxied path does not form a valid URL.');
  }
  if (url.origin !== base.origin) throw new ApiError('bad_request', 'The proxied path must stay on the provider\'s host.');
  return url;
}

/** Interpolates a template's headers or query; an entry whose placeholders this connection cannot fill is left out. */
function interpolateEntries(entries: Record<string, string> | undefined, values: InterpolationValues): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, template] of Object.entries(entries ?? {})) {
    const { value, missing } = interpolate(template, values);
    if (missing.length === 0) result[name.toLowerCase()] = value;
  }
  return result;
}

/** Appends parameters the query does not already carry, leaving the incoming query string byte for byte as it was. */
function withQuery(url: URL, params: [string, string][]): URL {
  if (params.length === 0) return url;
  const existing = new URLSearchParams(url.search);
  const extra = params.filter(([name]) => !existing.has(name));
  if (extra.length === 0) return url;
  const next = new URL(url.href);
  const encoded = new URLSearchParams(extra).toString();
  next.search = url.search.length > 1 ? `${url.search.slice(1)}&${encoded}` : encoded;
  return next;
}
