import Nango from '@nangohq/frontend';
import { useEffect, useState } from 'react';
import { adviceFor, errorParts, type Advice } from '../shared/auth-errors';
import { connectsInPopup } from '../shared/auth-modes';
import { ChevronRightIcon } from '../shared/icons';
import { formFields, ProviderForm, runAuth, type AuthValues, type FormField } from '../shared/provider-form';
import { Banner, Button, Dialog, Spinner } from '../shared/ui';
import { api, type ProviderDetail } from './api';
import { useDashboardConfig } from './dashboard-context';

interface Target {
  uniqueKey: string;
  provider: string;
  displayName: string;
  authMode: string | null;
}

type State =
  | { kind: 'loading' }
  | { kind: 'ready'; token: string; fields: FormField[]; authMode: string }
  | { kind: 'failed'; message: string }
  | { kind: 'connected'; connectionId: string };

/**
 * "Try it": the real end-user flow from the dashboard, with @nangohq/frontend and a connect session the
 * dashboard API creates (end user "dashboard-test"). The session is made when the dialog opens, so the click
 * on Connect opens the popup at once (browsers block popups opened after an await).
 */
export function TryItDialog({ target, open, onClose, onConnected }: { target: Target; open: boolean; onClose: () => void; onConnected: (connectionId: string) => void }) {
  const config = useDashboardConfig();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ advice: Advice; detail: string } | null>(null);

  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    setState({ kind: 'loading' });
    setFailure(null);
    void (async () => {
      try {
        const [session, provider] = await Promise.all([
          api<{ token: string }>('POST', '/api/v1/connect-session', { integration: target.uniqueKey }),
          api<{ provider: ProviderDetail }>('GET', `/api/v1/provider/${encodeURIComponent(target.provider)}`),
        ]);
        if (cancelled) return;
        const fields = formFields({
          authMode: provider.provider.authMode,
          connectionConfig: provider.provider.connectionConfig,
          credentials: provider.provider.credentials,
          paramNames: provider.provider.connectionConfigParams,
        });
        setState({ kind: 'ready', token: session.token, fields, authMode: provider.provider.authMode });
      } catch (error) {
        if (!cancelled) setState({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [open, target.uniqueKey, target.provider]);

  const connect = (values: AuthValues) => {
    if (state.kind !== 'ready') return;
    setBusy(true);
    setFailure(null);
    const nango = new Nango({ host: window.location.origin, connectSessionToken: state.token });
    runAuth(nango, target.uniqueKey, state.authMode, values, { detectClosedAuthWindow: true })
      .then((result) => {
        setState({ kind: 'connected', connectionId: result.connectionId });
        onConnected(result.connectionId);
      })
      .catch((error: unknown) => {
        const { type, message } = errorParts(error);
        setFailure({ advice: adviceFor(type, message, target.displayName), detail: type ? `${type}: ${message}` : message });
      })
      .finally(() => setBusy(false));
  };

  const openConnectUi = () => {
    if (state.kind !== 'ready') return;
    const nango = new Nango({ host: window.location.origin, connectSessionToken: state.token });
    onClose();
    // The SDK appends the iframe without focusing it: keyboard users are taken into it once it is ready, and
    // back to where they were (the Try it button) when it closes.
    let returnTo: HTMLElement | null = null;
    nango.openConnectUI({
      baseURL: config.connectUrl,
      apiURL: window.location.origin,
      onEvent: (event) => {
        if (event.type === 'ready') {
          returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
          document.getElementById('connect-ui')?.focus();
        }
        if (event.type === 'close') returnTo?.focus();
        if (event.type === 'connect') onConnected(event.payload.connectionId);
      },
    });
  };

  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={`Try ${target.displayName}`}
      footer={
        <>
          {state.kind === 'ready' ? (
            <Button variant="link" onClick={openConnectUi}>
              Open the Connect UI instead
              <ChevronRightIcon size={15} />
            </Button>
          ) : null}
          <span className="spacer" />
          <Button onClick={onClose}>{state.kind === 'connected' ? 'Close' : 'Cancel'}</Button>
        </>
      }
    >
      <div style={{ minHeight: '9rem' }} className="stack">
        {state.kind === 'loading' ? <Spinner label="Preparing a connect session" /> : null}
        {state.kind === 'failed' ? (
          <Banner tone="error" role="alert" title="The test could not start.">
            {state.message}
          </Banner>
        ) : null}
        {state.kind === 'ready' ? (
          <ProviderForm
            fields={state.fields}
            busy={busy}
            submitLabel={busy ? 'Waiting for the sign-in window' : `Connect with ${target.displayName}`}
            onSubmit={connect}
            intro={
              <p className="muted">
                This runs the flow your end users see{connectsInPopup(state.authMode) ? ': a window opens at the provider to sign in and approve' : ''}. The connection is stored for the end user <code>dashboard-test</code>.
              </p>
            }
            error={
              failure ? (
                <>
                  <strong>{failure.advice.title}.</strong> {failure.advice.action}
                  <details className="technical">
                    <summary>Details</summary>
                    <pre>{failure.detail}</pre>
                  </details>
                </>
              ) : undefined
            }
          />
        ) : null}
        {state.kind === 'connected' ? (
          <Banner tone="success" role="status" title="Connected.">
            The connection <code>{state.connectionId}</code> was created.
          </Banner>
        ) : null}
      </div>
    </Dialog>
  );
}
