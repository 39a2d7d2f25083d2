import type { ConnectionHosts } from '../net/connection-hosts.js';
import type { ProviderTemplate } from '../providers/provider-schema.js';

/** What a mode may read of its integration: the app's client (or key), and where its connections may send it. */
export interface IntegrationSecrets {
  unique_key: string;
  provider: string;
  oauth_client_id: string | null;
  oauth_client_secret: string | null;
  oauth_scopes: string | null;
  pinned_host: string | null;
  /** A GitHub App's public link or slug; null for other modes. */
  app_link: string | null;
}

/** Everything a call to the provider needs (a client credentials grant, a refresh). */
export interface ProviderCallContext {
  template: ProviderTemplate;
  integration: IntegrationSecrets;
  connectionConfig: Record<string, unknown>;
  /** Credentials of the connection the template declares beside the mode's own (SAP Concur's request token), when it is made. */
  connectionCredentials?: Record<string, string>;
  /** Where the integration's secrets may go: the agent for one URL (pinned host, outbound host guard), and a client certificate's TLS options. */
  hosts: Pick<ConnectionHosts, 'agentFor' | 'clientTls'>;
  timeoutMs: number;
  now: Date;
}
