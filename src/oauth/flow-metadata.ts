import type { ProviderTemplate } from '../providers/provider-schema.js';

/**
 * What a browser flow keeps of the provider's callback and token answer as the connection's parameters and
 * metadata: only the fields the template names (`redirect_uri_metadata`, `token_response_metadata`), dotted
 * paths allowed. A token answer that wraps the token (`token_response_path`) is read at that path, so TikTok's
 * `data.advertiser_ids` is kept as `advertiser_ids`.
 */
export function flowMetadata(
  template: Pick<ProviderTemplate, 'redirect_uri_metadata' | 'token_response_metadata' | 'token_response_path'>,
  query: Record<string, string>,
  raw: Record<string, unknown>,
): Record<string, string | string[]> {
  const answer = template.token_response_path ? tokenObjectAt(raw, template.token_response_path) : raw;
  return { ...pickFields(query, template.redirect_uri_metadata), ...pickFields(answer, template.token_response_metadata) };
}

/** The object at a template's `token_response_path` (TikTok's `data`), or an empty one when the answer has none there. */
export function tokenObjectAt(raw: Record<string, unknown>, path: string): Record<string, unknown> {
  const value = valueAt(raw, path);
  return isObject(value) ? value : {};
}

/** Strings and numbers as text; a list of them (TikTok's advertiser ids) as a list of text; anything else is left out. */
function pickFields(source: Record<string, unknown>, fields: string[] | undefined): Record<string, string | string[]> {
  const picked: Record<string, string | string[]> = {};
  for (const field of fields ?? []) {
    const value = valueAt(source, field);
    if (typeof value === 'string' || typeof value === 'number') picked[field] = String(value);
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) picked[field] = value.map(String);
  }
  return picked;
}

function valueAt(source: Record<string, unknown>, path: string): unknown {
  let value: unknown = source;
  for (const part of path.split('.')) value = isObject(value) ? value[part] : undefined;
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
