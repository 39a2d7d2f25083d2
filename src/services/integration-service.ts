import { createPrivateKey } from 'node:crypto';
import { authModeFacts } from '../credentials/auth-modes.js';
import { ApiError } from '../errors.js';
import { normalisePinnedHost } from '../net/connection-hosts.js';
import type { ProviderCatalog } from '../providers/provider-catalog.js';
import { templateUrls } from '../providers/template-urls.js';
import type { ConfigRecord, ConfigsStore } from '../store/configs-store.js';
import { NO_SIGNALS, type ServerSignals } from './server-signals.js';

export interface IntegrationInput {
  uniqueKey: string;
  provider: string;
  clientId: string | null;
  clientSecret: string | null;
  /** Scopes as the client sent them: a comma- or space-separated string, or a list. */
  scopes: string | string[] | null;
  displayName?: string | null;
  forwardWebhooks?: boolean;
  /** The only host its connections may use; undefined leaves it as it is (seed clients never send it). */
  pinnedHost?: string | null;
  /** A GitHub App's public link or slug; undefined leaves it as it is. */
  appLink?: string | null;
}

/** A partial change (modern PATCH): absent fields stay as they are. */
export interface IntegrationChanges {
  uniqueKey?: string;
  displayName?: string | null;
  clientId?: string | null;
  clientSecret?: string | null;
  scopes?: string | string[] | null;
  forwardWebhooks?: boolean;
  pinnedHost?: string | null;
  appLink?: string | null;
}

/** Integrations ("provider configs" in the seed API): what the operator registered with each provider. */
export class IntegrationService {
  constructor(
    private readonly configs: ConfigsStore,
    private readonly providers: ProviderCatalog,
    private readonly signals: ServerSignals = NO_SIGNALS,
  ) {}

  list(): Promise<ConfigRecord[]> {
    return this.configs.list();
  }

  async get(uniqueKey: string): Promise<ConfigRecord> {
    const config = await this.configs.find(uniqueKey);
    if (!config) throw unknownIntegration(uniqueKey);
    return config;
  }

  /** The integration as a read shows it: a private key (a GitHub App's) is never returned, only its presence kept out of sight. */
  readable(config: ConfigRecord): ConfigRecord {
    if (!authModeFacts(this.providers.get(config.provider)?.auth_mode)?.integrationFields.secretIsPrivateKey) return config;
    return { ...config, oauth_client_secret: null, oauth_client_secret_iv: null, oauth_client_secret_tag: null };
  }

  assertKnownProvider(provider: string): void {
    if (!this.providers.has(provider)) {
      throw new ApiError('unknown_provider_template', `"${provider}" is not a provider of the catalog; check its spelling or add it with NANGO_PROVIDERS_FILE.`);
    }
  }

  /**
   * An OAuth 1.0a provider that signs with RSA-SHA1 takes the consumer's private key as the client secret, and a
   * mode whose secret is a private key (a GitHub App) takes nothing else.
   */
  private assertUsableSecret(provider: string, clientSecret: string | null): void {
    const template = this.providers.get(provider);
    if (clientSecret && authModeFacts(template?.auth_mode)?.integrationFields.secretIsPrivateKey) {
      if (isPrivateKey(clientSecret)) return;
      throw new ApiError(
        'invalid_body',
        `The integration's private key (client_secret, or private_key for the modern API) must be the PEM of the app's private key ("-----BEGIN RSA PRIVATE KEY-----…"), as downloaded from its settings at ${template?.display_name ?? provider}; this one is not a private key.`,
      );
    }
    if (!clientSecret || template?.signature_method !== 'RSA-SHA1') return;
    try {
      createPrivateKey(clientSecret);
    } catch {
      throw new ApiError(
        'bad_request',
        `The provider "${provider}" signs with RSA-SHA1, so the client secret must be the PEM of the consumer's RSA private key ("-----BEGIN PRIVATE KEY-----…"), whose public key is registered with the provider; this one is not a private key.`,
      );
    }
  }

  /** Creates the integration; scopes are normalised to a comma-joined list. Returns the new id. */
  async create(input: IntegrationInput): Promise<number> {
    assertNewKeyAllowed(input.uniqueKey);
    this.assertKnownProvider(input.provider);
    this.assertUsableSecret(input.provider, input.clientSecret);
    const id = await this.configs.insert(input.uniqueKey, {
      provider: input.provider,
      oauth_client_id: input.clientId,
      oauth_client_secret: input.clientSecret,
      oauth_scopes: input.scopes === null ? null : normaliseScopes(input.scopes),
      ...(input.displayName !== undefined ? { display_name: input.displayName } : {}),
      ...(input.forwardWebhooks !== undefined ? { forward_webhooks: input.forwardWebhooks } : {}),
      ...this.pinnedHostField(input.provider, input.pinnedHost),
      ...(input.appLink !== undefined ? { app_link: input.appLink } : {}),
    });
    if (id === undefined) throw duplicateIntegration(input.uniqueKey);
    this.signals.integrationCreated(input.provider);
    return id;
  }

  /** Replaces the integration's fields; scopes are stored as given, as the seed server does. */
  async update(input: IntegrationInput): Promise<void> {
    this.assertKnownProvider(input.provider);
    this.assertUsableSecret(input.provider, input.clientSecret);
    const found = await this.configs.update(input.uniqueKey, {
      provider: input.provider,
      oauth_client_id: input.clientId,
      oauth_client_secret: input.clientSecret,
      oauth_scopes: input.scopes === null ? null : Array.isArray(input.scopes) ? input.scopes.join(',') : input.scopes,
      ...this.pinnedHostField(input.provider, input.pinnedHost),
      ...(input.appLink !== undefined ? { app_link: input.appLink } : {}),
    });
    if (!found) throw unknownIntegration(input.uniqueKey);
  }

  /** Applies a partial change; renaming the key moves its connections along. */
  async patch(uniqueKey: string, changes: IntegrationChanges): Promise<ConfigRecord> {
    const current = await this.get(uniqueKey);
    if (changes.clientSecret !== undefined) this.assertUsableSecret(current.provider, changes.clientSecret);
    const newKey = changes.uniqueKey && changes.uniqueKey !== uniqueKey ? changes.uniqueKey : undefined;
    if (newKey) assertNewKeyAllowed(newKey);
    if (newKey && (await this.configs.find(newKey))) throw duplicateIntegration(newKey);
    await this.configs.update(
      uniqueKey,
      {
        provider: current.provider,
        oauth_client_id: changes.clientId !== undefined ? changes.clientId : current.oauth_client_id,
        oauth_client_secret: changes.clientSecret !== undefined ? changes.clientSecret : current.oauth_client_secret,
        oauth_scopes: changes.scopes !== undefined ? (changes.scopes === null ? null : normaliseScopes(changes.scopes)) : current.oauth_scopes,
        ...(changes.displayName !== undefined ? { display_name: changes.displayName } : {}),
        ...(changes.forwardWebhooks !== undefined ? { forward_webhooks: changes.forwardWebhooks } : {}),
        ...this.pinnedHostField(current.provider, changes.pinnedHost),
        ...(changes.appLink !== undefined ? { app_link: changes.appLink } : {}),
      },
      newKey,
    );
    return this.get(newKey ?? uniqueKey);
  }

  /** The stored form of a pinned host, refused for a provider whose URLs fix their host (a pin there would mean nothing). */
  private pinnedHostField(provider: string, pinnedHost: string | null | undefined): { pinned_host?: string | null } {
    if (pinnedHost === undefined) return {};
    if (pinnedHost === null || pinnedHost.trim() === '') return { pinned_host: null };
    const template = this.providers.get(provider);
    if (template && !templateUrls(template).some((url) => url.hostFromConnection)) {
      throw new ApiError('invalid_body', `pinned_host applies to providers whose URLs take their host from the connection; the URLs of "${provider}" name their host already.`);
    }
    return { pinned_host: normalisePinnedHost(pinnedHost) };
  }

  /** Deletes the integration and its connections; deleting a key that does not exist is not an error. */
  async delete(uniqueKey: string): Promise<void> {
    await this.configs.deleteWithConnections(uniqueKey);
  }
}

function isPrivateKey(text: string): boolean {
  try {
    return text.includes('-----BEGIN') && createPrivateKey(text).type === 'private';
  } catch {
    return false;
  }
}

export function normaliseScopes(scopes: string | string[]): string {
  const items = Array.isArray(scopes) ? scopes : scopes.split(/[\s,]+/);
  return items.map((scope) => scope.trim()).filter(Boolean).join(',');
}

export function unknownIntegration(uniqueKey: string): ApiError {
  return new ApiError('unknown_provider_config', `No integration has the key "${uniqueKey}".`);
}

/**
 * A new key may not contain ":": the connect HMAC signs "<integration key>:<connection id>", so with a ":" in the
 * key the digest of one pair (`a:b` + `c`) would also be the digest of another (`a` + `b:c`). Keys that already
 * exist keep working; only creating or renaming to such a key is refused.
 */
function assertNewKeyAllowed(uniqueKey: string): void {
  if (uniqueKey.includes(':')) {
    throw new ApiError(
      'invalid_provider_config_key',
      `The integration key "${uniqueKey.slice(0, 100)}" contains ":", which new keys may not: the HMAC on connect signs "<integration key>:<connection id>", and a ":" in the key makes that ambiguous. Choose a key without ":".`,
    );
  }
}

function duplicateIntegration(uniqueKey: string): ApiError {
  return new ApiError('duplicate_provider_config', `An integration with the key "${uniqueKey}" already exists; choose another key or update the existing one.`);
}
