import { useEffect, useId, useState, type FormEvent } from 'react';
import { authModeFacts } from '../../shared/auth-modes';
import { ExternalIcon, SearchIcon } from '../../shared/icons';
import { Banner, Button, CopyBox, Logo } from '../../shared/ui';
import { api, DashboardApiError, useResource, type ProviderDetail, type ProviderSummary } from '../api';
import { useDashboardConfig, useToast } from '../dashboard-context';
import { Link, navigate, paths } from '../router';
import { PinnedHostField } from './parts';

const FIELD_OF_ERROR: Record<string, 'key' | 'clientId' | 'clientSecret' | 'scopes'> = {
  missing_provider_config: 'key',
  duplicate_provider_config: 'key',
  missing_client_id: 'clientId',
  missing_client_secret: 'clientSecret',
  missing_scopes: 'scopes',
};

const MAX_SHOWN = 24;

export function NewIntegrationPage() {
  const config = useDashboardConfig();
  const notify = useToast();
  const id = useId();
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [key, setKey] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [appLink, setAppLink] = useState('');
  const [showSecret, setShowSecret] = useState(false);
  const [scopes, setScopes] = useState('');
  const [pinnedHost, setPinnedHost] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<'key' | 'clientId' | 'clientSecret' | 'appLink' | 'scopes' | 'form', string>>>({});

  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search.trim()), 200);
    return () => window.clearTimeout(timer);
  }, [search]);

  const providers = useResource(() => api<ProviderSummary[]>('GET', `/api/v1/provider${query ? `?search=${encodeURIComponent(query)}` : ''}`), [query]);
  const provider = useResource(() => (selected ? api<{ provider: ProviderDetail }>('GET', `/api/v1/provider/${encodeURIComponent(selected)}`) : Promise.resolve(undefined)), [selected]);
  const detail = selected ? provider.data?.provider : undefined;
  const facts = authModeFacts(detail?.authMode);
  const oauth = facts?.integrationClient === 'required';
  const fields = facts?.integrationFields;

  const pick = (item: ProviderSummary) => {
    setSelected(item.name);
    setKey(item.name);
    setScopes(item.defaultScopes.join(','));
    setErrors({});
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!detail) return;
    const found: typeof errors = {};
    if (!key.trim()) found.key = 'Give the integration a key, for example github or github-staging.';
    const app = fields?.secretIsPrivateKey ? `${detail.displayName}` : `${detail.displayName} OAuth app`;
    if (oauth && !clientId.trim()) found.clientId = `Paste the ${fields?.secretIsPrivateKey ? fields.clientId : 'client ID'} of your ${app}.`;
    if (oauth && !clientSecret.trim()) found.clientSecret = `Paste the ${fields?.secretIsPrivateKey ? 'private key' : 'client secret'} of your ${app}.`;
    if (fields?.appLink && !appLink.trim()) found.appLink = `Paste the public link of your ${detail.displayName}, for example https://github.com/apps/my-app.`;
    setErrors(found);
    const first = Object.keys(found)[0];
    if (first) return document.getElementById(`${id}-${first}`)?.focus();
    setBusy(true);
    try {
      await api('POST', '/api/v1/integration', {
        provider_config_key: key.trim(),
        provider: detail.name,
        client_id: clientId.trim(),
        client_secret: clientSecret.trim(),
        scopes: scopes.trim(),
        ...(fields?.appLink ? { app_link: appLink.trim() } : {}),
        ...(detail.hostFromConnection && pinnedHost.trim() ? { pinned_host: pinnedHost.trim() } : {}),
      });
      notify(`Integration ${key.trim()} created.`);
      navigate(paths.integration(key.trim()));
    } catch (error) {
      const field = error instanceof DashboardApiError ? FIELD_OF_ERROR[error.type] : undefined;
      const message = error instanceof Error ? error.message : String(error);
      setErrors(field ? { [field]: message } : { form: message });
      if (field) document.getElementById(`${id}-${field}`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  const change = (set: (value: string) => void, name: 'key' | 'clientId' | 'clientSecret' | 'appLink' | 'scopes', value: string) => {
    set(value);
    if (errors[name] || errors.form) setErrors((current) => ({ ...current, [name]: undefined, form: undefined }));
  };

  const fieldProps = (name: 'key' | 'clientId' | 'clientSecret' | 'appLink' | 'scopes') => ({
    id: `${id}-${name}`,
    'aria-invalid': errors[name] ? true : undefined,
    'aria-describedby': [`${id}-${name}-hint`, errors[name] ? `${id}-${name}-error` : ''].filter(Boolean).join(' '),
  });
  const fieldError = (name: 'key' | 'clientId' | 'clientSecret' | 'appLink' | 'scopes') =>
    errors[name] ? (
      <span className="field-error" id={`${id}-${name}-error`}>
        {errors[name]}
      </span>
    ) : null;

  const list = providers.data ?? [];
  // The catalog has hundreds of providers: show the first matches, and keep the chosen one in view.
  const shown = list.slice(0, MAX_SHOWN);
  const chosen = list.find((item) => item.name === selected);
  if (chosen && !shown.includes(chosen)) shown.push(chosen);
  return (
    <>
      <div className="page-header">
        <div className="titles">
          <span className="breadcrumb">
            <Link to={paths.integrations}>Integrations</Link> / New
          </span>
          <h1>New integration</h1>
        </div>
      </div>
      <div className="stack">
        <section className="card" aria-labelledby={`${id}-step1`}>
          <div className="card-header">
            <h2 id={`${id}-step1`}>1. Choose a provider</h2>
          </div>
          <div className="card-body">
            <div className="field">
              <label htmlFor={`${id}-search`}>Search the provider catalog</label>
              <div className="input-affix">
                <span className="affix">
                  <SearchIcon size={16} />
                </span>
                <input id={`${id}-search`} className="input" type="search" placeholder="GitHub, Google, Zendesk…" value={search} onChange={(event) => setSearch(event.target.value)} autoFocus />
              </div>
            </div>
            <ul className="provider-results" aria-label="Providers" aria-busy={providers.loading}>
              {shown.map((item) => (
                <li key={item.name}>
                  <button type="button" className="provider-option" aria-pressed={selected === item.name} onClick={() => pick(item)}>
                    <Logo src={item.logoUrl} />
                    <span className="meta">
                      <span>{item.displayName}</span>
                      <span>
                        {item.name} · {item.authMode}
                      </span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
            {list.length > MAX_SHOWN ? (
              <p className="muted small" style={{ marginTop: '0.75rem' }}>
                Showing {MAX_SHOWN} of {list.length} providers: type to narrow the list.
              </p>
            ) : null}
            {providers.data && list.length === 0 ? (
              <p className="muted" style={{ marginTop: '0.75rem' }}>
                No provider matches “{query}”. Providers that are not in the catalog can be added with a NANGO_PROVIDERS_FILE overlay.
              </p>
            ) : null}
            {providers.error ? <Banner tone="error">{String((providers.error as Error).message)}</Banner> : null}
          </div>
        </section>

        {selected ? (
          <form className="card" onSubmit={(event) => void submit(event)} noValidate aria-labelledby={`${id}-step2`}>
            <div className="card-header">
              <h2 id={`${id}-step2`}>2. Configure {detail?.displayName ?? selected}</h2>
              {detail?.docs ? (
                <a href={detail.docs} target="_blank" rel="noreferrer noopener" className="small row">
                  Provider docs<ExternalIcon size={14} className="link-icon" />
                </a>
              ) : null}
            </div>
            <div className="card-body stack">
              {!detail ? (
                <p className="muted">Loading…</p>
              ) : (
                <>
                  {oauth ? (
                    <div className="field">
                      <span className="label" id={`${id}-callback-label`}>
                        Callback URL
                      </span>
                      <span className="hint">
                        {fields?.appLink
                          ? `Set exactly this URL as the Setup URL of your ${detail.displayName}: GitHub sends your users back to it after they install the app.`
                          : `Register exactly this URL as the redirect URI (callback URL) of your OAuth app at ${detail.displayName}.`}
                      </span>
                      <CopyBox value={config.callbackUrl} label="callback URL" />
                    </div>
                  ) : (
                    <Banner tone="info">
                      {detail.displayName} uses {facts?.usesInsteadOfApp ?? 'client credentials'}: there is no OAuth app to register.{' '}
                      {facts && facts.templateCredentials.length > 0 ? 'End users type their credentials in the Connect UI.' : ''}
                    </Banner>
                  )}
                  <div>
                    <div className="field">
                      <label htmlFor={`${id}-key`}>Integration key</label>
                      <input className="input mono" value={key} onChange={(event) => change(setKey, 'key', event.target.value)} {...fieldProps('key')} autoComplete="off" spellCheck={false} />
                      <span className="hint" id={`${id}-key-hint`}>
                        Your code names the integration with this key (provider_config_key). It cannot be changed here later.
                      </span>
                      {fieldError('key')}
                    </div>
                    {facts && facts.integrationClient !== 'none' ? (
                      <>
                        <div className="field">
                          <label htmlFor={`${id}-clientId`}>
                            {fields?.clientId ?? 'Client ID'} {oauth ? null : <span className="optional">(optional)</span>}
                          </label>
                          <input className="input mono" value={clientId} onChange={(event) => change(setClientId, 'clientId', event.target.value)} {...fieldProps('clientId')} autoComplete="off" spellCheck={false} />
                          <span className="hint" id={`${id}-clientId-hint`}>
                            {fields?.secretIsPrivateKey ? `From the settings page of your ${detail.displayName}.` : `From the OAuth app you created at ${detail.displayName}.`}
                          </span>
                          {fieldError('clientId')}
                        </div>
                        <div className="field">
                          <label htmlFor={`${id}-clientSecret`}>
                            {fields?.clientSecret ?? 'Client secret'} {oauth ? null : <span className="optional">(optional)</span>}
                          </label>
                          {fields?.secretIsPrivateKey ? (
                            <textarea className="input mono" rows={6} value={clientSecret} onChange={(event) => change(setClientSecret, 'clientSecret', event.target.value)} {...fieldProps('clientSecret')} autoComplete="off" spellCheck={false} placeholder="-----BEGIN RSA PRIVATE KEY-----" />
                          ) : (
                          <div className="input-group">
                            <input className="input mono" type={showSecret ? 'text' : 'password'} value={clientSecret} onChange={(event) => change(setClientSecret, 'clientSecret', event.target.value)} {...fieldProps('clientSecret')} autoComplete="off" spellCheck={false} />
                            <Button onClick={() => setShowSecret((value) => !value)} aria-pressed={showSecret} aria-label={showSecret ? 'Hide client secret' : 'Show client secret'}>
                              {showSecret ? 'Hide' : 'Show'}
                            </Button>
                          </div>
                          )}
                          <span className="hint" id={`${id}-clientSecret-hint`}>
                            {fields?.secretIsPrivateKey ? 'The .pem file GitHub lets you download once. Stored encrypted when NANGO_ENCRYPTION_KEY is set, and never shown again.' : 'Stored encrypted when NANGO_ENCRYPTION_KEY is set.'}
                          </span>
                          {fieldError('clientSecret')}
                        </div>
                        {fields?.appLink ? (
                          <div className="field">
                            <label htmlFor={`${id}-appLink`}>{fields.appLink}</label>
                            <input className="input mono" value={appLink} onChange={(event) => change(setAppLink, 'appLink', event.target.value)} {...fieldProps('appLink')} autoComplete="off" spellCheck={false} placeholder="https://github.com/apps/my-app" />
                            <span className="hint" id={`${id}-appLink-hint`}>
                              Where your users install the app; its settings page shows it as the public link.
                            </span>
                            {fieldError('appLink')}
                          </div>
                        ) : null}
                        <div className="field">
                          <label htmlFor={`${id}-scopes`}>
                            Scopes <span className="optional">(optional)</span>
                          </label>
                          <input className="input mono" value={scopes} onChange={(event) => change(setScopes, 'scopes', event.target.value)} {...fieldProps('scopes')} autoComplete="off" spellCheck={false} />
                          <span className="hint" id={`${id}-scopes-hint`}>
                            Comma- or space-separated. {detail.defaultScopes.length > 0 ? `Suggested: ${detail.defaultScopes.join(', ')}.` : ''}
                          </span>
                          {fieldError('scopes')}
                        </div>
                      </>
                    ) : null}
                    {detail.hostFromConnection ? <PinnedHostField id={`${id}-pinned-host`} value={pinnedHost} onChange={setPinnedHost} /> : null}
                  </div>
                  {errors.form ? (
                    <Banner tone="error" role="alert">
                      {errors.form}
                    </Banner>
                  ) : null}
                  <div className="row">
                    <Button type="submit" variant="primary" busy={busy}>
                      Create integration
                    </Button>
                    <Link className="btn" to={paths.integrations}>
                      Cancel
                    </Link>
                  </div>
                </>
              )}
            </div>
          </form>
        ) : null}
      </div>
    </>
  );
}
