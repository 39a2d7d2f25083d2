import { interpolateParams, type InterpolatedParams } from './interpolation.js';
import type { ProviderTemplate } from './provider-schema.js';

export type TemplateParamsKey = 'authorization_params' | 'token_params' | 'refresh_params';

/**
 * A template's extra authorization, token or refresh parameters with the connection's parameters filled in.
 * A placeholder naming a connection parameter declared `optional` drops its entry when the value is absent;
 * any other absent value is reported in `missing`, and the caller refuses the request naming it.
 */
export function templateParams(
  template: Pick<ProviderTemplate, TemplateParamsKey | 'connection_config'>,
  key: TemplateParamsKey,
  connectionConfig: Record<string, unknown>,
  /** The connection's own credentials a template may send (SAP Concur's `${companyRequestToken}`). */
  credentials: Record<string, unknown> = {},
): InterpolatedParams {
  return interpolateParams(template[key], { connectionConfig, credentials }, (name) => template.connection_config?.[name]?.optional === true);
}

/** The sentence that tells a caller which connection parameters to pass. */
export function missingParamsMessage(key: TemplateParamsKey | 'token_url' | 'refresh_url', names: string[]): string {
  const plural = names.length > 1 ? 's' : '';
  return `The provider's ${key} need${key.endsWith('params') ? '' : 's'} the connection parameter${plural} ${names.map((name) => `"${name}"`).join(', ')}; pass ${names.map((name) => `params[${name}]`).join(', ')}.`;
}
