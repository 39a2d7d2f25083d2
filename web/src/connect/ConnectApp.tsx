import Nango from '@nangohq/frontend';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { adviceFor, errorParts, type Advice } from '../shared/auth-errors';
import { authModeFacts, connectsInPopup } from '../shared/auth-modes';
import { AlertIcon, CheckIcon, ChevronLeftIcon, ChevronRightIcon, CloseIcon, SearchIcon } from '../shared/icons';
import { formFields, ProviderForm, runAuth, type AuthValues, type FieldSpec, type FormField } from '../shared/provider-form';
import { Button, keepTabInside, Logo, Spinner } from '../shared/ui';
import { ConnectApi, placeholderParams, type ConnectSessionData, type IntegrationItem, type ProviderData } from './connect-api';
import { ParentChannel } from './parent-channel';

export interface ConnectAppProps {
  apiURL: string;
  embedded: boolean;
  /** From `?session_token=` (a connect link); otherwise the parent page sends it. */
  linkToken: string | null;
  detectClosedAuthWindow: boolean;
}

/** What the popup's WebSocket carries, and the callback page posts as `custody_oauth_result`. */
type FlowResultMessage =
  | { message_type: 'success'; provider_config_key: string; connection_id: string; is_pending?: boolean }
  | { message_type: 'error'; provider_config_key: string; connection_id: string; error_type: string; error_desc: string };

type Phase =
  | { kind: 'loading'; label: string }
  | { kind: 'fatal'; advice: Advice; detail: string }
  | { kind: 'pick' }
  | { kind: 'form'; integration: IntegrationItem; provider: ProviderData; fields: FormField[] }
  | { kind: 'success'; integration: IntegrationItem; connectionId: string };

export function ConnectApp({ apiURL, embedded, linkToken, detectClosedAuthWindow }: ConnectAppProps) {
  const parent = useMemo(() => new ParentChannel(embedded), [embedded]);
  const [phase, setPhase] = useState<Phase>({ kind: 'loading', label: 'Loading' });
  const [token, setToken] = useState<string | null>(linkToken);
  const [session, setSession] = useState<ConnectSessionData | null>(null);
  const [integrations, setIntegrations] = useState<IntegrationItem[]>([]);
  const [search, setSearch] = useState('');
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<{ advice: Advice; detail: string } | null>(null);
  const callbackError = useRef<string | null>(null);
  /** The popup flow under way: settled by the SDK's auth() or by the callback page's result, whichever comes first. */
  const pendingFlow = useRef<{ integration: string; result: (message: FlowResultMessage) => void } | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const cardRef = useRef<HTMLElement>(null);
  const api = useMemo(() => (token ? new ConnectApi(apiURL, token) : null), [apiURL, token]);

  // The token: from the link, or from the parent page that opened us in an iframe (`ready` → `session_token`).
  useEffect(() => {
    if (linkToken) return;
    if (!embedded) {
      setPhase({ kind: 'fatal', advice: { title: 'This page needs a connect link', action: 'Open it from the application you are connecting to: it gives you a link with a session.', fatal: true }, detail: 'No session_token in the address.' });
      return;
    }
    setPhase({ kind: 'loading', label: 'Waiting for the application' });
    const stop = parent.waitForToken(setToken);
    const timer = window.setTimeout(() => {
      setPhase((current) =>
        current.kind === 'loading'
          ? { kind: 'fatal', advice: { title: 'The application did not start the session', action: 'Close this window and try again from the application.', fatal: true }, detail: 'No session_token message arrived from the parent page within 15 seconds.' }
          : current,
      );
    }, 15_000);
    return () => {
      stop();
      window.clearTimeout(timer);
    };
  }, [embedded, linkToken, parent]);

  const fail = useCallback(
    (error: unknown, provider = 'the service') => {
      const { type, message } = errorParts(error);
      parent.post({ type: 'error', payload: { errorType: type ?? 'unknown_error', errorMessage: message } });
      return { advice: adviceFor(type, message, provider), detail: type ? `${type}: ${message}` : message };
    },
    [parent],
  );

  const choose = useCallback(
    async (integration: IntegrationItem, sessionData: ConnectSessionData | null = session) => {
      if (!api) return;
      setFormError(null);
      setPhase({ kind: 'loading', label: `Loading ${integration.display_name}` });
      try {
        const provider = await api.provider(integration.provider);
        const preset = (sessionData?.integrations_config_defaults?.[integration.unique_key]?.connection_config ?? {}) as Record<string, unknown>;
        const fields = formFields(
          {
            authMode: provider.auth_mode,
            connectionConfig: (provider.connection_config ?? {}) as Record<string, FieldSpec>,
            credentials: (provider.credentials ?? {}) as Record<string, FieldSpec>,
            paramNames: placeholderParams(provider),
          },
          preset,
        );
        setPhase({ kind: 'form', integration, provider, fields });
      } catch (error) {
        const failure = fail(error, integration.display_name);
        setPhase({ kind: 'fatal', ...failure });
      }
    },
    [api, fail, session],
  );

  // Session and integrations, once the token is known.
  useEffect(() => {
    if (!api) return;
    let cancelled = false;
    setPhase({ kind: 'loading', label: 'Loading' });
    void (async () => {
      try {
        const [sessionData, list] = await Promise.all([api.session(), api.integrations()]);
        if (cancelled) return;
        const allowed = sessionData.allowed_integrations;
        const visible = allowed ? list.filter((item) => allowed.includes(item.unique_key)) : list;
        setSession(sessionData);
        setIntegrations(visible);
        if (visible.length === 0) {
          setPhase({ kind: 'fatal', advice: { title: 'Nothing to connect yet', action: 'The application has not set up any integration for this link. Contact its support.', fatal: true }, detail: 'The session allows no existing integration.' });
        } else if (visible.length === 1 && visible[0]) {
          await choose(visible[0], sessionData);
        } else {
          setPhase({ kind: 'pick' });
        }
      } catch (error) {
        if (!cancelled) setPhase({ kind: 'fatal', ...fail(error) });
      }
    })();
    return () => {
      cancelled = true;
    };
    // `choose` changes with `session`; this runs once per token.
  }, [api]);

  // The callback page posts `nango_oauth_callback_*` to the window that opened the popup (this one): acknowledge, so it closes.
  // It also posts `custody_oauth_result`, the WebSocket's message: when a server restart closed the SDK's socket
  // while the person signed in, auth() never settles, and this is the result.
  useEffect(() => {
    const origin = new URL(apiURL).origin;
    const listener = (event: MessageEvent) => {
      if (event.origin !== origin || typeof event.data !== 'object' || !event.data) return;
      const data = event.data as { type?: string; payload?: { message?: string }; message?: FlowResultMessage };
      if (data.type === 'custody_oauth_result' && data.message && data.message.provider_config_key === pendingFlow.current?.integration) {
        pendingFlow.current.result(data.message);
        return;
      }
      if (data.type !== 'nango_oauth_callback_success' && data.type !== 'nango_oauth_callback_error') return;
      if (data.type === 'nango_oauth_callback_error') callbackError.current = data.payload?.message ?? null;
      (event.source as Window | null)?.postMessage({ type: 'nango_oauth_callback_ack' }, origin);
    };
    window.addEventListener('message', listener);
    return () => window.removeEventListener('message', listener);
  }, [apiURL]);

  // Move focus to the new heading on each step, so keyboard and screen-reader users follow along.
  useEffect(() => {
    headingRef.current?.focus();
  }, [phase.kind]);

  const close = useCallback(() => parent.post({ type: 'close' }), [parent]);

  useEffect(() => {
    if (!embedded) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape' && !busy) close();
      // Over the application's page the Connect UI is a modal: Tab must not reach the page behind it.
      if (cardRef.current) keepTabInside(event, cardRef.current);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [busy, close, embedded]);

  const connect = (values: AuthValues) => {
    if (phase.kind !== 'form' || !token) return;
    const { integration, provider } = phase;
    setBusy(true);
    setFormError(null);
    callbackError.current = null;
    const nango = new Nango({ host: apiURL, connectSessionToken: token });
    let settled = false;
    const succeed = (result: { providerConfigKey: string; connectionId: string; isPending?: boolean }) => {
      if (settled) return;
      settled = true;
      parent.post({ type: 'connect', payload: { providerConfigKey: result.providerConfigKey, connectionId: result.connectionId, ...(result.isPending !== undefined ? { isPending: result.isPending } : {}) } });
      setPhase({ kind: 'success', integration, connectionId: result.connectionId });
      setBusy(false);
    };
    const failWith = (error: unknown) => {
      if (settled) return;
      settled = true;
      const failure = fail(error, integration.display_name);
      if (callbackError.current && !failure.detail.includes(callbackError.current)) failure.detail += `\n${callbackError.current}`;
      if (failure.advice.fatal) setPhase({ kind: 'fatal', ...failure });
      else setFormError(failure);
      setBusy(false);
    };
    const flow = {
      integration: integration.unique_key,
      result: (message: FlowResultMessage) =>
        message.message_type === 'success'
          ? succeed({ providerConfigKey: message.provider_config_key, connectionId: message.connection_id, isPending: message.is_pending })
          : failWith({ type: message.error_type, message: message.error_desc }),
    };
    pendingFlow.current = flow;
    // Called in the click's task: the OAuth popup opens synchronously inside auth().
    runAuth(nango, integration.unique_key, provider.auth_mode, values, { detectClosedAuthWindow })
      .then(succeed, failWith)
      .finally(() => {
        if (pendingFlow.current === flow) pendingFlow.current = null;
      });
  };

  const needle = search.trim().toLowerCase();
  const shown = integrations.filter((item) => !needle || item.display_name.toLowerCase().includes(needle) || item.unique_key.toLowerCase().includes(needle));
  const canGoBack = phase.kind === 'form' && integrations.length > 1 && !session?.isReconnecting;
  const title =
    phase.kind === 'form' ? `Connect ${phase.integration.display_name}` : phase.kind === 'success' ? 'Connected' : phase.kind === 'fatal' ? 'Cannot connect' : phase.kind === 'pick' ? 'Connect an account' : 'Connect an account';

  return (
    <div className="connect-shell">
      <section ref={cardRef} className="connect-card" role={embedded ? 'dialog' : undefined} aria-modal={embedded ? true : undefined} aria-labelledby="connect-title">
        <header className="connect-header">
          {canGoBack ? (
            <Button variant="ghost" className="btn-icon" aria-label="Back to the list of integrations" onClick={() => setPhase({ kind: 'pick' })} disabled={busy}>
              <ChevronLeftIcon />
            </Button>
          ) : null}
          <h1 id="connect-title" ref={headingRef} tabIndex={-1}>
            {title}
          </h1>
          {embedded ? (
            <Button variant="ghost" className="btn-icon" aria-label="Close" onClick={close}>
              <CloseIcon />
            </Button>
          ) : null}
        </header>
        <main className="connect-main">
          {phase.kind === 'loading' ? (
            <div className="center">
              <Spinner label={phase.label} />
            </div>
          ) : null}

          {phase.kind === 'fatal' ? <Failure advice={phase.advice} detail={phase.detail} onClose={embedded ? close : undefined} /> : null}

          {phase.kind === 'pick' ? (
            <>
              <p className="muted">
                {session?.endUser?.display_name ? `${session.endUser.display_name}, choose` : 'Choose'} the service to connect. You sign in with it; this application never sees your password.
              </p>
              {integrations.length > 5 ? (
                <div className="field">
                  <label htmlFor="integration-search" className="sr-only">
                    Search integrations
                  </label>
                  <div className="input-affix">
                    <span className="affix">
                      <SearchIcon size={16} />
                    </span>
                    <input id="integration-search" className="input" type="search" placeholder="Search" value={search} onChange={(event) => setSearch(event.target.value)} />
                  </div>
                </div>
              ) : null}
              <ul className="integration-list" aria-label="Integrations">
                {shown.map((item) => (
                  <li key={item.unique_key}>
                    <button type="button" className="integration-option" onClick={() => void choose(item)}>
                      <Logo src={item.logo} />
                      <span>{item.display_name}</span>
                      <ChevronRightIcon className="chevron" />
                    </button>
                  </li>
                ))}
              </ul>
              {shown.length === 0 ? <p className="muted">No integration matches “{search}”.</p> : null}
            </>
          ) : null}

          {phase.kind === 'form' ? (
            <>
              <div className="row">
                <Logo src={phase.integration.logo} size="lg" />
                <div>
                  <strong>{phase.integration.display_name}</strong>
                  <p className="muted small">{describeMode(phase.provider.auth_mode, phase.integration.display_name)}</p>
                </div>
              </div>
              <ProviderForm
                key={phase.integration.unique_key}
                fields={phase.fields}
                busy={busy}
                submitLabel={busy ? (connectsInPopup(phase.provider.auth_mode) ? 'Waiting for the sign-in window' : 'Connecting') : `Connect ${phase.integration.display_name}`}
                onSubmit={connect}
                error={
                  formError ? (
                    <>
                      <strong>{formError.advice.title}.</strong> {formError.advice.action}
                      <details className="technical">
                        <summary>Details</summary>
                        <pre>{formError.detail}</pre>
                      </details>
                    </>
                  ) : undefined
                }
              />
              {phase.provider.docs_connect ? (
                <p className="small">
                  <a href={phase.provider.docs_connect} target="_blank" rel="noreferrer noopener">
                    How to find these details
                  </a>
                </p>
              ) : null}
            </>
          ) : null}

          {phase.kind === 'success' ? (
            <div className="center" role="status">
              <span className="result-icon success">
                <CheckIcon size={26} />
              </span>
              <h2>{phase.integration.display_name} is connected</h2>
              <p className="muted">{embedded ? 'You can close this window.' : 'You can close this tab and go back to the application.'}</p>
              {embedded ? (
                <Button variant="primary" onClick={close}>
                  Done
                </Button>
              ) : null}
            </div>
          ) : null}
        </main>
        <footer className="connect-footer">Secured by Custody</footer>
      </section>
    </div>
  );
}

function Failure({ advice, detail, onClose }: { advice: Advice; detail: string; onClose: (() => void) | undefined }) {
  return (
    <div className="center" role="alert">
      <span className="result-icon error">
        <AlertIcon size={26} />
      </span>
      <h2>{advice.title}</h2>
      <p className="muted">{advice.action}</p>
      <details className="technical">
        <summary>Details</summary>
        <pre>{detail}</pre>
      </details>
      {onClose ? <Button onClick={onClose}>Close</Button> : null}
    </div>
  );
}

function describeMode(mode: string, name: string): string {
  return authModeFacts(mode)?.describeConnect(name) ?? `No sign-in needed for ${name}.`;
}
