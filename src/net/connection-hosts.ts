import type http from 'node:http';
import type { Dispatcher } from 'undici';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { interpolate, templateAlternatives, type InterpolationValues } from '../providers/interpolation.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';
import { checkAnsweredUrl } from '../providers/answered-base-url.js';
import { hostFromAnswer, hostFromConnection, templateUrls, wholeHostParameter } from '../providers/template-urls.js';
import { clientTlsOptions, type ClientCertificate, type ClientTlsOptions } from './client-tls.js';
import { hostnameOf, HostRefusedError, type OutboundHostGuard } from './outbound-host-guard.js';
import { UpstreamDispatchers } from './upstream-dispatchers.js';

/**
 * Where a connection may send its integration's secrets: the template's URLs whose host comes from the
 * connection, checked against the integration's pinned host and the outbound host guard, when the connection
 * is made and at every call.
 */
export interface HostPinnedIntegration {
  unique_key: string;
  /** `host` or `host:port`: the only host this integration's connections may use (null: any allowed host). */
  pinned_host: string | null;
}

/** Whose choice a URL's host is: the provider's answer (`${apiBaseUrl}`), the connection's parameters, or the template's own text. */
type HostSource = 'answer' | 'connection' | 'template';

export class ConnectionHosts {
  /** Integrations the operator was told to pin, once per process each. */
  private readonly warned = new Set<string>();
  private readonly hostSources = new WeakMap<object, Map<string, HostSource>>();

  /** The proxy's upstream sockets: its calls go through undici rather than node:http's agents. */
  private readonly dispatchers: UpstreamDispatchers;

  constructor(
    private readonly guard: OutboundHostGuard,
    private readonly log?: Logger,
    /** Certificate authorities trusted beside Node's own on calls that present a client certificate (specs' stand-ins). */
    private readonly extraTrusted: readonly string[] = [],
  ) {
    this.dispatchers = new UpstreamDispatchers(guard.lookup);
  }

  /**
   * When a connection is made: every URL of the template whose host the connection decides must be on the
   * pinned host, and every such URL the server calls must pass the guard. A URL still missing a value (one the
   * provider's answer brings, such as Salesforce's instance_url) is checked when it is called.
   */
  async checkNewConnection(template: ProviderTemplate, integration: HostPinnedIntegration, values: InterpolationValues): Promise<void> {
    const checked = new Set<string>();
    for (const entry of templateUrls(template)) {
      if (!entry.hostFromConnection) continue;
      const { value, missing } = interpolate(entry.text, values);
      if (missing.length > 0) continue;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        continue; // the flow's own interpolation names the malformed URL
      }
      assertPinnedHost(url, integration);
      if (entry.calledByServer) this.suggestPin(entry.name, entry.text, integration);
      if (entry.calledByServer && !checked.has(url.host)) {
        checked.add(url.host);
        await this.guard.check(url);
      }
    }
  }

  /**
   * For one call to a URL made from `templateText`: the HTTP agent to send with, or undefined when the template
   * fixes the host (Node's default agent). Throws HostRefusedError for a host off the pin or a refused address.
   */
  agentFor(template: Pick<ProviderTemplate, 'connection_config' | 'api_base_url'>, templateText: string, url: URL, integration: HostPinnedIntegration): http.Agent | undefined {
    return this.throughGuard(template, templateText, url, integration) ? this.guard.agentFor(url) : undefined;
  }

  /**
   * The same checks as `agentFor`, for a proxied call: the undici dispatcher to send with, through the outbound host
   * guard's lookup when the connection chose the host, presenting the client certificate `tls` if given.
   */
  dispatcherFor(
    template: Pick<ProviderTemplate, 'connection_config' | 'api_base_url'>,
    templateText: string,
    url: URL,
    integration: HostPinnedIntegration,
    tls: ClientTlsOptions | undefined,
  ): { dispatcher: Dispatcher; guarded: boolean } {
    const guarded = this.throughGuard(template, templateText, url, integration);
    if (guarded) this.guard.checkLiteral(url);
    return { dispatcher: this.dispatchers.for(guarded, tls), guarded };
  }

  /** The dispatcher of a call to a host the template fixes or the operator allowed (Base-Url-Override). */
  directDispatcher(tls: ClientTlsOptions | undefined): Dispatcher {
    return this.dispatchers.for(false, tls);
  }

  /** Whether a call to `url` must go through the outbound host guard; throws HostRefusedError for a host off the pin or off the answered hosts. */
  private throughGuard(template: Pick<ProviderTemplate, 'connection_config' | 'api_base_url'>, templateText: string, url: URL, integration: HostPinnedIntegration): boolean {
    const source = this.hostSourceOf(template, templateText);
    if (source === 'answer') return this.answeredHostGuarded(template, url);
    if (source === 'template') return false;
    assertPinnedHost(url, integration);
    return true;
  }

  /**
   * Who names the host of a template's URL. It depends on the template's text alone, so it is worked out once per
   * template object and URL text (every proxied call asks); the checks of the URL itself still run at every call.
   */
  private hostSourceOf(template: Pick<ProviderTemplate, 'connection_config'>, templateText: string): HostSource {
    let sources = this.hostSources.get(template);
    if (!sources) this.hostSources.set(template, (sources = new Map()));
    let source = sources.get(templateText);
    if (source === undefined) {
      source = hostFromAnswer(templateText) ? 'answer' : hostFromConnection(templateText, template) ? 'connection' : 'template';
      sources.set(templateText, source);
    }
    return source;
  }

  /**
   * A URL on the base URL the provider's answer named: checked again at every call against the template's
   * `api_base_url.hosts` (the template may have changed since); a host under a `*.domain` entry goes through
   * the outbound host guard, an exactly listed one is the operator's choice.
   */
  private answeredHostGuarded(template: Pick<ProviderTemplate, 'api_base_url'>, url: URL): boolean {
    const check = checkAnsweredUrl(url.origin, template.api_base_url?.hosts ?? []);
    if (!check.ok) {
      throw new HostRefusedError('connection_host_not_allowed', `The provider named ${url.origin} as its API's address, which is refused: ${check.problem}. Reconnect, or correct api_base_url.hosts in the provider template.`);
    }
    return check.byWildcard;
  }

  /** The TLS options of a call that presents a connection's client certificate (mutual TLS); undefined for a call without one. */
  clientTls(certificate: ClientCertificate | undefined): ClientTlsOptions | undefined {
    return certificate ? clientTlsOptions(certificate, this.extraTrusted) : undefined;
  }

  /** The pinned host as the value of each parameter that is a whole host in the template's URLs. */
  pinnedValues(template: ProviderTemplate, integration: HostPinnedIntegration): Record<string, string> {
    if (!integration.pinned_host) return {};
    const values: Record<string, string> = {};
    for (const entry of templateUrls(template)) {
      const name = wholeHostParameter(entry.text);
      if (name) values[name] = integration.pinned_host;
    }
    return values;
  }

  async close(): Promise<void> {
    this.guard.close();
    await this.dispatchers.close();
  }

  /** A template that takes the whole host from the connection, unpinned: any public host gets the credentials. */
  private suggestPin(name: string, text: string, integration: HostPinnedIntegration): void {
    const wholeHost = templateAlternatives(text).some((alternative) => /^([a-z][a-z0-9+.-]*:\/\/)?\$\{/i.test(alternative));
    if (integration.pinned_host || this.warned.has(integration.unique_key) || !wholeHost) return;
    this.warned.add(integration.unique_key);
    this.log?.warn(
      `Connections of integration "${integration.unique_key}" choose the whole host of its ${name}, so an end user can have its credentials sent to any public host they name. If the integration's app lives on one server, pin it: set the integration's pinned_host.`,
    );
  }
}

/** Throws HostRefusedError when the integration is pinned to a host and the URL is on another. */
export function assertPinnedHost(url: URL, integration: HostPinnedIntegration): void {
  const pin = integration.pinned_host;
  if (!pin) return;
  // Without a port the pin allows any port of its host; with one, only that port.
  const pinPort = /:(\d+)$/.exec(pin)?.[1];
  const pinHost = hostnameOf(new URL(`http://${pinPort ? pin.slice(0, -(pinPort.length + 1)) : pin}`));
  const urlPort = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (pinHost === hostnameOf(url).replace(/\.$/, '') && (!pinPort || pinPort === urlPort)) return;
  throw new HostRefusedError(
    'connection_host_not_allowed',
    `The integration "${integration.unique_key}" only connects to ${pin} (its pinned_host setting); "${url.host}" is refused. Use ${pin}, or ask the operator to change the integration's pinned host.`,
  );
}

/** Checks an operator's pinned host (`host` or `host:port`, no scheme or path) and returns it lower-cased. */
export function normalisePinnedHost(text: string): string {
  const value = text.trim().toLowerCase();
  let url: URL | undefined;
  try {
    url = new URL(`https://${value}`);
  } catch {
    url = undefined;
  }
  if (!url || url.host !== value.replace(/:443$/, '') || url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    throw new ApiError('invalid_body', `pinned_host must be a host name or address, optionally with a port (for example gitlab.example.com or gitlab.example.com:8443), without a scheme or path (got "${text}").`);
  }
  return value;
}
