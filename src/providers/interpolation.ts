import { ANSWERED_BASE_URL_PLACEHOLDER } from './answered-base-url.js';

/**
 * `${…}` placeholders of provider templates. Connection parameters are written
 * `${connectionConfig.<name>}` (modern) or `${connectionConfig.params.<name>}` (seed); credentials by their
 * field name (`${apiKey}`, `${username}`); the base URL a provider's answer named as `${apiBaseUrl}`; `${base64(…)}` encodes what it wraps.
 */
export interface InterpolationValues {
  connectionConfig: Record<string, unknown>;
  credentials?: Record<string, unknown>;
  /** `${apiBaseUrl}`: the base URL the provider's answer named (src/providers/answered-base-url.ts), already checked. */
  apiBaseUrl?: string | undefined;
}

export interface Interpolated {
  value: string;
  /** Placeholders that had no value; a non-empty list means `value` must not be used. */
  missing: string[];
}

const SIMPLE_PLACEHOLDER = /\$\{([A-Za-z_][\w.-]*)\}/g;
const BASE64_PLACEHOLDER = /\$\{base64\(([^()]*)\)\}/g;
const CONNECTION_CONFIG_PREFIXES = ['connectionConfig.params.', 'connectionConfig.'];

/**
 * `A || B` (Nango's spelling) tries each alternative in turn and takes the first whose placeholders all have
 * values: `https://api.${connectionConfig.region}.intercom.io || https://api.intercom.io`.
 */
export function interpolate(template: string, values: InterpolationValues): Interpolated {
  const alternatives = template.split(ALTERNATIVE_SEPARATOR);
  let result = interpolateOne(alternatives[0] ?? '', values);
  for (const alternative of alternatives.slice(1)) {
    if (result.missing.length === 0) break;
    const next = interpolateOne(alternative, values);
    result = next.missing.length === 0 ? next : { value: next.value, missing: [...new Set([...result.missing, ...next.missing])] };
  }
  return result;
}

const ALTERNATIVE_SEPARATOR = /\s+\|\|\s+/;

/** The alternatives of a template string (`A || B`), in the order they are tried. */
export function templateAlternatives(template: string): string[] {
  return template.split(ALTERNATIVE_SEPARATOR);
}

function interpolateOne(template: string, values: InterpolationValues): Interpolated {
  const missing: string[] = [];
  const substituted = template.replace(SIMPLE_PLACEHOLDER, (whole, name: string) => {
    const value = lookup(name, values);
    if (value === undefined) {
      missing.push(name);
      return whole;
    }
    return value;
  });
  const value = substituted.replace(BASE64_PLACEHOLDER, (_whole, inner: string) => {
    // Bare names inside base64(…) are allowed too: `${base64(username:password)}`.
    const resolved = inner.replace(/[A-Za-z_][\w.]*/g, (name) => lookup(name, values) ?? name);
    return Buffer.from(resolved, 'utf8').toString('base64');
  });
  return { value, missing };
}

/** The connection parameter names a template string needs, in both spellings. */
export function connectionConfigNames(template: string): string[] {
  const names = new Set<string>();
  for (const match of template.matchAll(SIMPLE_PLACEHOLDER)) {
    const name = match[1] ?? '';
    const prefix = CONNECTION_CONFIG_PREFIXES.find((candidate) => name.startsWith(candidate));
    if (prefix) names.add(name.slice(prefix.length));
  }
  return [...names];
}

function lookup(name: string, values: InterpolationValues): string | undefined {
  const prefix = CONNECTION_CONFIG_PREFIXES.find((candidate) => name.startsWith(candidate));
  if (prefix) {
    const key = name.slice(prefix.length);
    // Rows written by Nango v0.16 keep the prefixed key literally.
    return asText(dotted(values.connectionConfig, key) ?? values.connectionConfig[`connectionConfig.params.${key}`]);
  }
  if (name === ANSWERED_BASE_URL_PLACEHOLDER) return asText(values.apiBaseUrl);
  return asText(values.credentials?.[name]);
}

function dotted(source: Record<string, unknown>, path: string): unknown {
  if (path in source) return source[path];
  let current: unknown = source;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export interface InterpolatedParams {
  params: Record<string, string>;
  /** Connection parameters that a required entry needs and that have no value. */
  missing: string[];
}

/**
 * Fills `${connectionConfig.*}` placeholders into a template's authorization, token or refresh parameters
 * (Auth0's `audience`). An entry whose placeholders name only optional connection parameters is left out when
 * they are empty, so a template can offer a parameter the provider does not require (Auth0's `organization`).
 */
export function interpolateParams(params: Record<string, string> | undefined, values: InterpolationValues, optional: (name: string) => boolean): InterpolatedParams {
  const filled: Record<string, string> = {};
  const missing = new Set<string>();
  for (const [key, template] of Object.entries(params ?? {})) {
    const { value, missing: absent } = interpolate(template, values);
    const names = absent.map(placeholderName);
    if (names.length === 0) filled[key] = value;
    else for (const name of names.filter((candidate) => !optional(candidate))) missing.add(name);
  }
  return { params: filled, missing: [...missing] };
}

/** `connectionConfig.params.audience` → `audience`: the name a caller passes as `params[audience]`. */
export function placeholderName(placeholder: string): string {
  const prefix = CONNECTION_CONFIG_PREFIXES.find((candidate) => placeholder.startsWith(candidate));
  return prefix ? placeholder.slice(prefix.length) : placeholder;
}
