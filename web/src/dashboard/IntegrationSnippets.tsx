import { useId, useRef, useState, type KeyboardEvent } from 'react';
import { formFields } from '../shared/provider-form';
import { CopyButton, ErrorState, Spinner } from '../shared/ui';
import { api, useResource, type ProviderDetail } from './api';
import { useDashboardConfig } from './dashboard-context';
import { Section } from './pages/parts';
import { integrationSnippets, SECRET_KEY_VARIABLE } from './snippets';

/**
 * "Use it in your code": the frontend (Connect UI, auth()) and backend (Node, curl) code for one integration,
 * for this server, each with a Copy button. The secret key is read from NANGO_SECRET_KEY, never shown.
 */
export function IntegrationSnippets({ integration, provider, authMode }: { integration: string; provider: string; authMode: string | null }) {
  const config = useDashboardConfig();
  const id = useId();
  const detail = useResource(() => api<{ provider: ProviderDetail }>('GET', `/api/v1/provider/${encodeURIComponent(provider)}`), [provider]);
  const [selected, setSelected] = useState(0);
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  const template = detail.data?.provider;
  // A provider gone from the catalog still gets snippets: no fields, the mode the integration reports.
  const loaded = template !== undefined || detail.error !== undefined;
  const fields = template
    ? formFields({ authMode: template.authMode, connectionConfig: template.connectionConfig, credentials: template.credentials, paramNames: template.connectionConfigParams })
    : [];
  const snippets = integrationSnippets({ integration, authMode: template?.authMode ?? authMode ?? '', fields, serverUrl: config.serverUrl, connectUrl: config.connectUrl });
  const current = snippets[selected] ?? snippets[0];

  // Arrow keys move between tabs, Home and End to the ends (the WAI-ARIA tabs pattern); Tab goes on to the code.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const moves: Record<string, number> = { ArrowRight: selected + 1, ArrowLeft: selected - 1, Home: 0, End: snippets.length - 1 };
    const target = moves[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const next = (target + snippets.length) % snippets.length;
    setSelected(next);
    tabs.current[next]?.focus();
  };

  return (
    <Section title="Use it in your code">
      <div className="stack">
        <p className="muted">
          Your frontend connects users with <code>@nangohq/frontend</code>; your backend creates their connect sessions and reads tokens with <code>@nangohq/node</code> (0.71.10) or plain HTTP. The secret key is read from the environment variable <code>{SECRET_KEY_VARIABLE}</code>.
        </p>
        {!loaded ? (
          <Spinner label="Preparing the snippets" />
        ) : detail.error && !template && authMode === null ? (
          <ErrorState error={detail.error} retry={detail.reload} />
        ) : current ? (
          <div className="snippets">
            <div className="snippet-bar">
              <div className="snippet-tabs" role="tablist" aria-label="Code snippets" onKeyDown={onKeyDown}>
                {snippets.map((snippet, index) => (
                  <button
                    key={snippet.id}
                    ref={(element) => {
                      tabs.current[index] = element;
                    }}
                    type="button"
                    role="tab"
                    id={`${id}-tab-${snippet.id}`}
                    aria-selected={index === selected}
                    aria-controls={`${id}-panel`}
                    tabIndex={index === selected ? 0 : -1}
                    className="snippet-tab"
                    onClick={() => setSelected(index)}
                  >
                    {snippet.label}
                  </button>
                ))}
              </div>
              <CopyButton value={current.code} label={`Copy the ${current.label} snippet`} />
            </div>
            <div role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${current.id}`} className="snippet-panel">
              {/* Focusable: a long line scrolls sideways, and keyboard users must be able to scroll it. */}
              <pre tabIndex={0} aria-label={`${current.label} snippet`}>
                <code>{current.code}</code>
              </pre>
            </div>
          </div>
        ) : null}
      </div>
    </Section>
  );
}
