/** Messages between the Connect UI in an iframe and the page of `@nangohq/frontend`'s openConnectUI (§2.6). */
export type ConnectEvent =
  | { type: 'ready' }
  | { type: 'connect'; payload: { providerConfigKey: string; connectionId: string; isPending?: boolean } }
  | { type: 'error'; payload: { errorType: string; errorMessage: string } }
  | { type: 'close' };

export class ParentChannel {
  /** Learnt from the `session_token` message; until then (and for `ready`) any origin, since `ready` says nothing secret. */
  private parentOrigin = '*';
  private announced = false;

  constructor(private readonly embedded: boolean) {}

  post(event: ConnectEvent): void {
    if (!this.embedded) return;
    window.parent.postMessage(event, event.type === 'ready' ? '*' : this.parentOrigin);
  }

  /** Announces `ready` and waits for `{type: 'session_token', sessionToken}` from the parent window. */
  waitForToken(onToken: (token: string) => void): () => void {
    const listener = (event: MessageEvent) => {
      if (event.source !== window.parent) return;
      const data = event.data as { type?: unknown; sessionToken?: unknown } | null;
      if (typeof data !== 'object' || data === null || data.type !== 'session_token' || typeof data.sessionToken !== 'string') return;
      this.parentOrigin = event.origin && event.origin !== 'null' ? event.origin : '*';
      onToken(data.sessionToken);
    };
    window.addEventListener('message', listener);
    // Once per page: an effect that runs again must not make the parent send the token twice.
    if (!this.announced) this.post({ type: 'ready' });
    this.announced = true;
    return () => window.removeEventListener('message', listener);
  }
}
