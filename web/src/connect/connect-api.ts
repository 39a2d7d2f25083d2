/** The modern API calls the Connect UI makes with the session token (§2.6). */
export interface ConnectSessionData {
  allowed_integrations: string[] | null;
  integrations_config_defaults: Record<string, { connection_config?: Record<string, unknown> }> | null;
  endUser: { id: string; display_name: string | null; email: string | null } | null;
  isReconnecting?: boolean;
}

export interface IntegrationItem {
  unique_key: string;
  provider: string;
  display_name: string;
  logo: string;
}

export interface ProviderData {
  name: string;
  display_name: string;
  auth_mode: string;
  docs_connect?: string;
  authorization_url?: string;
  token_url?: string;
  proxy?: { base_url?: string };
  connection_config?: Record<string, unknown>;
  credentials?: Record<string, unknown>;
}

export class ConnectApiError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class ConnectApi {
  constructor(
    private readonly apiURL: string,
    private readonly token: string,
  ) {}

  async session(): Promise<ConnectSessionData> {
    return (await this.get<{ data: ConnectSessionData }>('/connect/session')).data;
  }

  async integrations(): Promise<IntegrationItem[]> {
    return (await this.get<{ data: IntegrationItem[] }>('/integrations')).data;
  }

  async provider(name: string): Promise<ProviderData> {
    return (await this.get<{ data: ProviderData }>(`/providers/${encodeURIComponent(name)}`)).data;
  }

  private async get<T>(path: string): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.apiURL}${path}`, { headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', 'accept-language': navigator.language || 'en' } });
    } catch {
      throw new ConnectApiError(`The server at ${this.apiURL} cannot be reached. Check your network connection and try again.`, 'network_error', 0);
    }
    const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    if (!response.ok) {
      throw new ConnectApiError(body?.error?.message ?? `The server answered ${response.status}.`, body?.error?.code ?? 'unknown_error', response.status);
    }
    return body as T;
  }
}

const PLACEHOLDER = /\$\{connectionConfig\.(?:params\.)?([\w-]+)\}/g;

/** Connection parameters a provider's URLs need, even when its template does not declare them as fields. */
export function placeholderParams(provider: ProviderData): string[] {
  const names = new Set<string>();
  for (const url of [provider.authorization_url, provider.token_url, provider.proxy?.base_url]) {
    for (const match of (url ?? '').matchAll(PLACEHOLDER)) if (match[1]) names.add(match[1]);
  }
  return [...names];
}
