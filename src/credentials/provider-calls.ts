import type http from 'node:http';
import { ProviderError } from '../oauth/token-endpoint.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams, type TemplateParamsKey } from '../providers/template-params.js';
import type { ProviderCallContext } from './credential-mode.js';

/**
 * A renewal's token or refresh URL, filled in and with the agent to call it through. Checked at every renewal,
 * not only when the connection was made: the host may resolve elsewhere by now. A URL the connection cannot
 * fill fails the renewal as the provider's would (the stored credentials stay).
 */
export function renewalTarget(context: ProviderCallContext, templateText: string, apiBaseUrl?: string): { url: string; agent: http.Agent | undefined } {
  const { value: url, missing } = interpolate(templateText, { connectionConfig: context.connectionConfig, apiBaseUrl });
  if (missing.length > 0) throw new ProviderError('garbage', `The refresh URL needs connection parameters that are missing: ${missing.join(', ')}.`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ProviderError('garbage', 'The refresh URL is not a valid URL once the connection parameters are filled in.');
  }
  return { url, agent: context.hosts.agentFor(context.template, templateText, parsed, context.integration) };
}

/** A template's token or refresh parameters for a stored connection; one it cannot fill fails the renewal, saying which. */
export function renewalParams(template: Pick<ProviderTemplate, TemplateParamsKey | 'connection_config'>, key: TemplateParamsKey, connectionConfig: Record<string, unknown>, credentials?: Record<string, unknown>): Record<string, string> {
  const { params, missing } = templateParams(template, key, connectionConfig, credentials);
  if (missing.length > 0) throw new ProviderError('garbage', `${missingParamsMessage(key, missing)} Reconnect with it.`);
  return params;
}
