import { useEffect, useId, useState, type FormEvent } from 'react';
import { authModeFacts } from '../../shared/auth-modes';
import { formatDate, plural } from '../../shared/format';
import { ExternalIcon, PlayIcon, SearchIcon, TrashIcon } from '../../shared/icons';
import { Banner, Button, CopyBox, Dialog, EmptyState, ErrorState, Logo, SecretValue, Spinner } from '../../shared/ui';
import { api, DashboardApiError, useResource, type IntegrationDetail } from '../api';
import { useToast } from '../dashboard-context';
import { Link, navigate, paths } from '../router';
import { IntegrationSnippets } from '../IntegrationSnippets';
import { TryItDialog } from '../TryIt';
import { PinnedHostField, Section } from './parts';

export function IntegrationPage({ uniqueKey }: { uniqueKey: string }) {
  const notify = useToast();
  const resource = useResource(() => api<{ integration: IntegrationDetail }>('GET', `/api/v1/integration/${encodeURIComponent(uniqueKey)}`), [uniqueKey]);
  const [tryOpen, setTryOpen] = useState(false);
  const [deleteOpen, setDeleteOpen] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [editing, setEditing] = useState(false);
  const integration = resource.data?.integration;

  if (resource.error && !integration) {
    if (resource.error instanceof DashboardApiError && resource.error.type === 'unknown_provider_config') {
      return (
        <div className="card">
          <EmptyState icon={<SearchIcon />} title={`No integration “${uniqueKey}”`} action={<Link className="btn btn-primary" to={paths.integrations}>Back to integrations</Link>}>
            It may have been deleted, or the key in the address is mistyped.
          </EmptyState>
        </div>
      );
    }
    return (
      <div className="card">
        <ErrorState error={resource.error} retry={resource.reload} />
      </div>
    );
  }
  if (!integration) return <Spinner label="Loading the integration" />;

  const oauth = authModeFacts(integration.authMode)?.integrationClient === 'required';
  const fields = authModeFacts(integration.authMode)?.integrationFields;
  const remove = async () => {
    setDeleting(true);
    try {
      await api('DELETE', `/api/v1/integration/${encodeURIComponent(uniqueKey)}`);
      notify(`Integration ${uniqueKey} deleted.`);
      navigate(paths.integrations);
    } catch (error) {
      notify(error instanceof Error ? error.message : String(error), 'error');
      setDeleting(false);
      setDeleteOpen(false);
    }
  };

  return (
    <>
      <div className="page-header">
        <Logo src={integration.logoUrl} size="lg" />
        <div className="titles">
          <span className="breadcrumb">
            <Link to={paths.integrations}>Integrations</Link> / {integration.uniqueKey}
          </span>
          <h1>{integration.displayName}</h1>
        </div>
        <div className="row row-wrap">
          <Button variant="primary" onClick={() => setTryOpen(true)}>
            <PlayIcon size={15} />
            Try it
          </Button>
          <Button variant="danger-outline" onClick={() => setDeleteOpen(true)}>
            <TrashIcon size={15} />
            Delete
          </Button>
        </div>
      </div>

      <div className="stack">
        <Section title="Overview">
          <dl className="facts facts-wide">
            <dt>Integration key</dt>
            <dd className="mono">{integration.uniqueKey}</dd>
            <dt>Provider</dt>
            <dd>
              {integration.provider}
              {integration.docs ? (
                <>
                  {' · '}
                  <a href={integration.docs} target="_blank" rel="noreferrer noopener">
                    docs<ExternalIcon size={12} className="link-icon" />
                  </a>
                </>
              ) : null}
            </dd>
            <dt>Authentication</dt>
            <dd>{integration.authMode ?? 'unknown (the provider is no longer in the catalog)'}</dd>
            <dt>Connections</dt>
            <dd>
              <Link to={paths.connections({ integration: integration.uniqueKey })}>{plural(integration.connectionCount, 'connection')}</Link>
            </dd>
            <dt>Created</dt>
            <dd>{formatDate(integration.creationDate)}</dd>
            {integration.hostFromConnection && !(oauth || integration.clientId) ? <PinnedHostFact pinnedHost={integration.pinnedHost} /> : null}
            {oauth ? (
              <>
                <dt>Callback URL</dt>
                <dd>
                  <CopyBox value={integration.callbackUrl} label="callback URL" />
                  <span className="hint">
                    {fields?.appLink ? `Set it as the Setup URL of your ${integration.displayName}.` : `Register it as the redirect URI of the OAuth app at ${integration.displayName}.`}
                  </span>
                </dd>
              </>
            ) : null}
          </dl>
        </Section>

        {oauth || integration.clientId ? (
          <Section
            title={fields?.appLink ? integration.displayName : 'OAuth app'}
            actions={
              !editing ? (
                <Button size="sm" onClick={() => setEditing(true)}>
                  Edit
                </Button>
              ) : null
            }
          >
            {editing ? (
              <EditClient
                integration={integration}
                onDone={(saved) => {
                  setEditing(false);
                  if (saved) {
                    notify('Integration saved.');
                    resource.reload();
                  }
                }}
              />
            ) : (
              <dl className="facts facts-wide">
                <dt>{fields?.clientId ?? 'Client ID'}</dt>
                <dd className="mono">{integration.clientId ?? '—'}</dd>
                <dt>{fields?.clientSecret ?? 'Client secret'}</dt>
                <dd>
                  {fields?.secretIsPrivateKey ? (
                    <span className="muted">stored encrypted, never shown</span>
                  ) : integration.clientSecret ? (
                    <SecretValue value={integration.clientSecret} label="client secret" />
                  ) : (
                    '—'
                  )}
                </dd>
                {fields?.appLink ? (
                  <>
                    <dt>{fields.appLink}</dt>
                    <dd className="mono">{integration.appLink ?? '—'}</dd>
                  </>
                ) : null}
                <dt>Scopes</dt>
                <dd className="mono">{integration.scopes ? integration.scopes.split(/[\s,]+/).filter(Boolean).join(', ') : <span className="muted">none</span>}</dd>
                {integration.hostFromConnection ? <PinnedHostFact pinnedHost={integration.pinnedHost} /> : null}
              </dl>
            )}
          </Section>
        ) : null}

        <IntegrationSnippets integration={integration.uniqueKey} provider={integration.provider} authMode={integration.authMode} />
      </div>

      <TryItDialog
        target={{ uniqueKey: integration.uniqueKey, provider: integration.provider, displayName: integration.displayName, authMode: integration.authMode }}
        open={tryOpen}
        onClose={() => setTryOpen(false)}
        onConnected={(connectionId) => {
          notify(`Connected: ${connectionId}`);
          resource.reload();
          setTryOpen(false);
          navigate(paths.connection(integration.uniqueKey, connectionId));
        }}
      />

      <Dialog
        open={deleteOpen}
        onClose={() => setDeleteOpen(false)}
        title={`Delete ${integration.uniqueKey}?`}
        footer={
          <>
            <Button onClick={() => setDeleteOpen(false)} autoFocus>
              Cancel
            </Button>
            <Button variant="danger" busy={deleting} onClick={() => void remove()}>
              Delete integration
            </Button>
          </>
        }
      >
        <p>
          This deletes the integration and its {plural(integration.connectionCount, 'connection')}, with their tokens. Your users will have to connect again. This cannot be undone.
        </p>
      </Dialog>
    </>
  );
}

function EditClient({ integration, onDone }: { integration: IntegrationDetail; onDone: (saved: boolean) => void }) {
  const id = useId();
  const [clientId, setClientId] = useState(integration.clientId ?? '');
  const [clientSecret, setClientSecret] = useState(integration.clientSecret ?? '');
  const [scopes, setScopes] = useState(integration.scopes ?? '');
  const [appLink, setAppLink] = useState(integration.appLink ?? '');
  const fields = authModeFacts(integration.authMode)?.integrationFields;
  const [pinnedHost, setPinnedHost] = useState(integration.pinnedHost ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => document.getElementById(`${id}-client-id`)?.focus(), [id]);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('PUT', '/api/v1/integration', {
        provider_config_key: integration.uniqueKey,
        provider: integration.provider,
        client_id: clientId.trim(),
        client_secret: clientSecret.trim(),
        scopes: scopes.trim(),
        ...(fields?.appLink ? { app_link: appLink.trim() } : {}),
        ...(integration.hostFromConnection ? { pinned_host: pinnedHost.trim() } : {}),
      });
      onDone(true);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(event) => void save(event)} className="stack" noValidate>
      <div>
        <div className="field">
          <label htmlFor={`${id}-client-id`}>{fields?.clientId ?? 'Client ID'}</label>
          <input id={`${id}-client-id`} className="input mono" value={clientId} onChange={(event) => setClientId(event.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-client-secret`}>{fields?.clientSecret ?? 'Client secret'}</label>
          {fields?.secretIsPrivateKey ? (
            <>
              <textarea id={`${id}-client-secret`} className="input mono" rows={6} value={clientSecret} onChange={(event) => setClientSecret(event.target.value)} autoComplete="off" spellCheck={false} aria-describedby={`${id}-client-secret-hint`} />
              <span className="hint" id={`${id}-client-secret-hint`}>
                Leave empty to keep the stored key.
              </span>
            </>
          ) : (
            <input id={`${id}-client-secret`} className="input mono" type="password" value={clientSecret} onChange={(event) => setClientSecret(event.target.value)} autoComplete="off" spellCheck={false} />
          )}
        </div>
        {fields?.appLink ? (
          <div className="field">
            <label htmlFor={`${id}-app-link`}>{fields.appLink}</label>
            <input id={`${id}-app-link`} className="input mono" value={appLink} onChange={(event) => setAppLink(event.target.value)} autoComplete="off" spellCheck={false} />
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${id}-scopes`}>Scopes</label>
          <input id={`${id}-scopes`} className="input mono" value={scopes} onChange={(event) => setScopes(event.target.value)} autoComplete="off" spellCheck={false} aria-describedby={`${id}-scopes-hint`} />
          <span className="hint" id={`${id}-scopes-hint`}>
            Comma- or space-separated. New connections ask for these; existing ones keep what they were granted.
          </span>
        </div>
        {integration.hostFromConnection ? <PinnedHostField id={`${id}-pinned-host`} value={pinnedHost} onChange={setPinnedHost} /> : null}
      </div>
      {error ? (
        <Banner tone="error" role="alert">
          {error}
        </Banner>
      ) : null}
      <div className="row">
        <Button type="submit" variant="primary" busy={busy}>
          Save
        </Button>
        <Button onClick={() => onDone(false)}>Cancel</Button>
      </div>
    </form>
  );
}

function PinnedHostFact({ pinnedHost }: { pinnedHost: string | null }) {
  return (
    <>
      <dt>Pinned host</dt>
      <dd>
        <div className={pinnedHost ? 'mono' : 'muted'}>{pinnedHost ?? 'none: each connection names its own host'}</div>
        <span className="hint">The only host this integration&apos;s connections may use, when its app is registered on one server.</span>
      </dd>
    </>
  );
}
