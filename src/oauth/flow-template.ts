import type http from 'node:http';
import type { ConnectionHosts, HostPinnedIntegration } from '../net/connection-hosts.js';
import { interpolate } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { missingParamsMessage, templateParams, type TemplateParamsKey } from '../providers/template-params.js';
import { asFlowRefusal, FlowError } from './flow-error.js';

/**
 * A browser flow's view of its provider template: URLs and parameters filled with the connection's values,
 * each refusal naming the value to pass, and the agent a URL is called through (the outbound host guard's
 * when the connection chose the host).
 */

/** One of the template's URLs, filled in; a missing connection parameter is named, with the `params[…]` to pass. */
export function filledUrl(templateText: string, key: string, connectionConfig: Record<string, unknown>): string {
  const { value, missing } = interpolate(templateText, { connectionConfig });
  if (missing.length > 0) {
    const names = missing.map((name) => name.replace(/^connectionConfig\.(params\.)?/, ''));
    throw new FlowError('url_param_err', `The provider's ${key} needs the connection parameter${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}; pass ${names.map((n) => `params[${n}]`).join(', ')}.`);
  }
  try {
    return new URL(value).toString();
  } catch {
    throw new FlowError('url_param_err', `The provider's ${key} is not a valid URL once filled in.`);
  }
}

/** Authorization or token parameters of the template, filled in; a missing connection parameter is named. */
export function filledParams(template: ProviderTemplate, key: TemplateParamsKey, connectionConfig: Record<string, unknown>): Record<string, string> {
  const { params, missing } = templateParams(template, key, connectionConfig);
  if (missing.length > 0) throw new FlowError('url_param_err', missingParamsMessage(key, missing));
  return params;
}

/** How the server reaches one of the template's URLs: a refused host is the flow's refusal. */
export function flowAgent(hosts: Pick<ConnectionHosts, 'agentFor'>, template: ProviderTemplate, templateText: string, url: string, integration: HostPinnedIntegration): http.Agent | undefined {
  try {
    return hosts.agentFor(template, templateText, new URL(url), integration);
  } catch (error) {
    throw asFlowRefusal(error);
  }
}

/**
 * Every URL and parameter an OAuth flow will use, filled in before the user is sent to the provider, so a
 * missing parameter fails now rather than at the callback. Returns the authorization URL.
 */
export function fillOAuthTemplate(template: ProviderTemplate, connectionConfig: Record<string, unknown>): { authorizationUrl: string } {
  const authorizationUrl = filledUrl(template.authorization_url ?? '', 'authorization_url', connectionConfig);
  filledUrl(template.token_url ?? '', 'token_url', connectionConfig);
  filledParams(template, 'authorization_params', connectionConfig);
  filledParams(template, 'token_params', connectionConfig);
  return { authorizationUrl };
}

/** An integration's comma-separated scopes as a list. */
export function splitScopes(scopes: string | null | undefined): string[] {
  return (scopes ?? '').split(',').map((scope) => scope.trim()).filter(Boolean);
}
