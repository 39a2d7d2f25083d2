/** The few API calls a benchmark makes to set the server up (always to 127.0.0.1), failing loudly. */
export class ServerApi {
  constructor(
    private readonly baseUrl: string,
    private readonly secretKey: string,
  ) {}

  get authorization(): Record<string, string> {
    return { authorization: `Bearer ${this.secretKey}` };
  }

  async createIntegration(key: string, provider: string): Promise<void> {
    await this.send('POST', '/config', { provider_config_key: key, provider, oauth_client_id: 'bench-client', oauth_client_secret: 'bench-client-secret', oauth_scopes: 'read' });
  }

  /** The seed import (`POST /connection`): the server seals the credentials itself. */
  async importOAuth2(key: string, connectionId: string, tokens: { access_token: string; refresh_token?: string; expires_at?: string }): Promise<void> {
    await this.send('POST', '/connection', { provider_config_key: key, connection_id: connectionId, type: 'OAUTH2', ...tokens });
  }

  async getJson(path: string): Promise<unknown> {
    return this.send('GET', path);
  }

  private async send(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { ...this.authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}
