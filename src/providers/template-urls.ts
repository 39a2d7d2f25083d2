import { ANSWERED_BASE_URL_PLACEHOLDER } from './answered-base-url.js';
import { templateAlternatives } from './interpolation.js';
import type { ProviderTemplate } from './provider-schema.js';

/**
 * The URLs of a provider template, and which of them take their host from the connection: a placeholder
 * (`${connectionConfig.host}`, or any other) before the end of the URL's host part, in any of its alternatives
 * (`A || B`). Such a host is chosen by whoever fills in the connection, so calls to it go through the outbound
 * host guard. A parameter limited to a closed set (`enum`, a region) does not count: the template lists every
 * host it can name.
 */
export interface TemplateUrl {
  name: 'authorization_url' | 'token_url' | 'refresh_url' | 'request_url' | 'post_token_request.url' | 'proxy.base_url';
  text: string;
  /** The server itself sends requests there (the authorization URL is only where the browser is sent). */
  calledByServer: boolean;
  hostFromConnection: boolean;
}

/** The parts of a template that name URLs, and the connection parameters that fill them. */
export type TemplateUrlFields = Pick<ProviderTemplate, 'authorization_url' | 'token_url' | 'refresh_url' | 'request_url' | 'post_token_request' | 'proxy' | 'base_api_url' | 'connection_config'>;

export function templateUrls(template: TemplateUrlFields): TemplateUrl[] {
  const entries: [TemplateUrl['name'], string | undefined, boolean][] = [
    ['authorization_url', template.authorization_url, false],
    ['token_url', template.token_url, true],
    ['refresh_url', template.refresh_url, true],
    ['request_url', template.request_url, true],
    ['post_token_request.url', template.post_token_request?.url, true],
    ['proxy.base_url', template.proxy?.base_url ?? template.base_api_url, true],
  ];
  return entries
    .filter((entry): entry is [TemplateUrl['name'], string, boolean] => entry[1] !== undefined)
    .map(([name, text, calledByServer]) => ({ name, text, calledByServer, hostFromConnection: hostFromConnection(text, template) }));
}

/**
 * True when some alternative of `text` has, in its host part, a placeholder that is not a closed set of the
 * template. `${apiBaseUrl}` is the provider's answer, checked against the template's own list of hosts instead.
 */
export function hostFromConnection(text: string, template: Pick<ProviderTemplate, 'connection_config'>): boolean {
  return templateAlternatives(text).some((alternative) =>
    hostPlaceholders(alternative).some((name) => {
      if (name === ANSWERED_BASE_URL_PLACEHOLDER) return false;
      const parameter = /^connectionConfig\.(?:params\.)?(.+)$/.exec(name)?.[1];
      return !(parameter && template.connection_config?.[parameter]?.enum);
    }),
  );
}

/** True when some alternative of `text` takes its host from the provider's answer (`${apiBaseUrl}`). */
export function hostFromAnswer(text: string): boolean {
  return templateAlternatives(text).some((alternative) => hostPlaceholders(alternative).includes(ANSWERED_BASE_URL_PLACEHOLDER));
}

/** The placeholders written before the URL's host part ends (the whole URL, when it starts with one). */
function hostPlaceholders(alternative: string): string[] {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(alternative)?.[0] ?? '';
  const rest = alternative.slice(scheme.length);
  // The host part ends at the first "/", "?" or "#" outside a placeholder.
  const hostPart = /^(?:\$\{[^}]*\}|[^/?#])*/.exec(rest)?.[0] ?? '';
  return [...hostPart.matchAll(/\$\{([^}]*)\}/g)].map((match) => match[1] ?? '');
}

/** The connection parameter that is the whole host (`https://${connectionConfig.host}/…` → `host`), if one is. */
export function wholeHostParameter(text: string): string | undefined {
  const first = templateAlternatives(text)[0] ?? '';
  return /^[a-z][a-z0-9+.-]*:\/\/\$\{connectionConfig\.(?:params\.)?([\w-]+)\}(?:[/?#]|$)/i.exec(first)?.[1];
}
