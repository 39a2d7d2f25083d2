import type { ConnectionHosts, HostPinnedIntegration } from '../net/connection-hosts.js';
import { checkAnsweredUrl } from '../providers/answered-base-url.js';
import { interpolate, type InterpolationValues } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { ProviderError, redactProviderAnswer } from './provider-error.js';
import { callProvider } from './token-endpoint.js';

/**
 * What a template keeps of a provider's answers beyond the token itself, after every token grant and refresh:
 * the answer of its post-token request (Bullhorn's REST login: `BhRestToken`), and the API's base URL the
 * provider named (SAP Concur's `geolocation`, Bullhorn's `restUrl`). Both are stored with the credentials
 * (sealed with them), so a refresh that fails keeps them with the tokens they belong to.
 */
export interface KeptFromAnswers {
  /** The API's base URL as the provider named it, checked against the template's `api_base_url.hosts`; no trailing `/`. */
  api_base_url?: string;
  /** The fields `post_token_request.keep` names, from its last answer. */
  post_token_values?: Record<string, string>;
}

export interface FollowUpContext {
  template: ProviderTemplate;
  integration: HostPinnedIntegration;
  connectionConfig: Record<string, unknown>;
  hosts: Pick<ConnectionHosts, 'agentFor'>;
  timeoutMs: number;
}

const MAX_ANSWER_BYTES = 1024 * 1024;

/** True when the template keeps anything of its token answers (and so needs `followTokenAnswer`). */
export function followsTokenAnswers(template: Pick<ProviderTemplate, 'post_token_request' | 'api_base_url'>): boolean {
  return template.post_token_request !== undefined || template.api_base_url !== undefined;
}

/**
 * Runs the template's post-token request with the new access token and picks what the template keeps. A
 * refresh answer that does not name the base URL again keeps the one named before (`previous`). Any failure is
 * a ProviderError: the grant or refresh fails as a refused token request would, and stored credentials stay.
 */
export async function followTokenAnswer(tokenAnswer: Record<string, unknown>, accessToken: string, context: FollowUpContext, previous?: KeptFromAnswers): Promise<KeptFromAnswers> {
  const { template } = context;
  if (!followsTokenAnswers(template)) return {};
  const postTokenAnswer = template.post_token_request ? await sendPostTokenRequest(template.post_token_request, accessToken, context) : undefined;
  const kept: KeptFromAnswers = {};
  if (template.post_token_request && postTokenAnswer) {
    const values: Record<string, string> = {};
    for (const field of template.post_token_request.keep) {
      const value = postTokenAnswer[field];
      if (typeof value !== 'string' || value === '') throw new ProviderError('garbage', `The provider's post-token request answered without ${field}.`);
      values[field] = value;
    }
    kept.post_token_values = values;
  }
  const spec = template.api_base_url;
  if (spec) {
    const source = spec.from === 'post_token_request' ? postTokenAnswer : tokenAnswer;
    const named = source?.[spec.field];
    if (typeof named === 'string' && named !== '') {
      const check = checkAnsweredUrl(named, spec.hosts);
      if (!check.ok) throw new ProviderError('garbage', `The provider named an API address (${spec.field}) that is refused: ${check.problem}.`);
      kept.api_base_url = named.replace(/\/+$/, '');
    } else if (previous?.api_base_url) {
      kept.api_base_url = previous.api_base_url;
    } else {
      throw new ProviderError('garbage', `The provider's answer has no ${spec.field}, the address of its API that this connection needs.`);
    }
  }
  return kept;
}

async function sendPostTokenRequest(spec: NonNullable<ProviderTemplate['post_token_request']>, accessToken: string, context: FollowUpContext): Promise<Record<string, unknown>> {
  const values: InterpolationValues = { connectionConfig: context.connectionConfig, credentials: { accessToken } };
  const url = filledUrl(spec.url, values);
  for (const [name, template] of Object.entries(spec.query ?? {})) url.searchParams.append(name, filled(template, values, `post_token_request.query.${name}`));
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'custody-oauth-server' };
  for (const [name, template] of Object.entries(spec.headers ?? {})) headers[name.toLowerCase()] = filled(template, values, `post_token_request.headers.${name}`);
  const method = spec.method ?? 'POST';
  const agent = context.hosts.agentFor(context.template, spec.url, url, context.integration);
  // The URL may carry the access token (Bullhorn's login takes it in the query): it is never logged, only its host.
  const response = await callProvider(
    { url, method, headers, ...(method === 'POST' ? { body: '' } : {}), timeoutMs: context.timeoutMs, maxResponseBytes: MAX_ANSWER_BYTES, agent },
    "The provider's post-token request",
  );
  const text = response.body.toString('utf8').trim();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  const redacted = text ? redactProviderAnswer(text) : undefined;
  if (response.status >= 400) {
    const words = typeof answer === 'object' && answer !== null ? describeRefusal(answer as Record<string, unknown>) : undefined;
    throw new ProviderError('rejected', `The provider refused the post-token request (HTTP ${response.status}${words ? `: ${words}` : ''}).`, { status: response.status }, redacted);
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    throw new ProviderError('garbage', `The provider answered the post-token request with HTTP ${response.status} and a body that is not a JSON object.`, { status: response.status }, redacted);
  }
  return answer as Record<string, unknown>;
}

function filledUrl(text: string, values: InterpolationValues): URL {
  const value = filled(text, values, 'post_token_request.url');
  try {
    return new URL(value);
  } catch {
    throw new ProviderError('garbage', 'The post-token request URL is not a valid URL once the connection parameters are filled in.');
  }
}

function filled(text: string, values: InterpolationValues, where: string): string {
  const { value, missing } = interpolate(text, values);
  if (missing.length > 0) throw new ProviderError('garbage', `The provider template's ${where} needs values this connection does not have: ${missing.join(', ')}.`);
  return value;
}

/** The provider's own error words, from the fields providers use for them (Bullhorn: `errorMessage`). */
function describeRefusal(body: Record<string, unknown>): string | undefined {
  for (const key of ['error_description', 'errorMessage', 'message', 'error']) {
    const value = body[key];
    if (typeof value === 'string' && value !== '') return value.slice(0, 200);
  }
  return undefined;
}
