import { useState } from 'react';
import { authModeFacts } from '../../shared/auth-modes';
import { formatDate, formatRelative } from '../../shared/format';
import { RefreshIcon, SearchIcon, TrashIcon } from '../../shared/icons';
import { Banner, Button, Dialog, EmptyState, ErrorState, HealthBadge, SecretValue, Spinner, StatusBadge } from '../../shared/ui';
import { api, DashboardApiError, useResource, type ConnectionDetail, type ConnectionEvent } from '../api';
import { useToast } from '../dashboard-context';
import { Link, navigate, paths } from '../router';
import { auditActionLabel, healthSentence, Section, statusSentence, TimesBadge } from './parts';

interface Details {
  connection: ConnectionDetail;
  events: ConnectionEvent[];
}

export function ConnectionPage({ providerConfigKey, connectionId }: { providerConfigKey: string; connectionId: string }) {
  const notify = useToast();
  const query = `provider_config_key=${encodeURIComponent(providerConfigKey)}`;
  const base = `/api/v1/connection/${encodeURIComponent(connectionId)}`;
  const resource = useResource(() => api<Details>('GET', `${base}/details?${query}`), [base, query]);
  const [refreshing, setRefreshing] = useState(false);
  const [refreshError, setRefreshError] = useState<string | null>(null);
  const [deleteOpen, setDeleteOpen] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [override, setOverride] = useState<Details | null>(null);
  const data = override && override.connection.connectionId === connectionId ? override : resource.data;

  if (resource.error && !data) {
    if (resource.error instanceof DashboardApiError && (resource.error.type === 'unkown_connection' || resource.error.type === 'unknown_connection')) {
      return (
        <div className="card">
          <EmptyState icon={<SearchIcon />} title="This connection does not exist" action={<Link className="btn btn-primary" to={paths.connections()}>Back to connections</Link>}>
            No connection “{connectionId}” exists for the integration “{providerConfigKey}”. It may have been deleted.
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
  if (!data) return <Spinner label="Loading the connection" />;
  const { connection, events } = data;
  const { renewable } = connection;
  // The secret the page offers to reveal, named as its mode names it; none for a connection without credentials.
  const secretLabel = connection.credentialsType ? (authModeFacts(connection.credentialsType)?.secretLabel ?? 'Access token') : null;

  const refresh = async () => {
    setRefreshing(true);
    setRefreshError(null);
    try {
      const fresh = await api<Details>('POST', `${base}/refresh?${query}`);
      setOverride(fresh);
      notify('Token refreshed.');
    } catch (error) {
      setRefreshError(error instanceof Error ? error.message : String(error));
      resource.reload();
      setOverride(null);
    } finally {
      setRefreshing(false);
    }
  };

  const remove = async () => {
    setDeleting(true);
    try {
      await api('DELETE', `${base}?${query}`);
      notify(`Connection ${connectionId} deleted.`);
      navigate(paths.connections());
    } catch (error) {
      notify(error instanceof Error ? error.message : String(error), 'error');
      setDeleting(false);
      setDeleteOpen(false);
    }
  };

  const loadToken = async () => {
    const response = await api<{ connection: Record<string, string | null> }>('GET', `${base}?${query}`);
    const c = response.connection;
    return c['accessToken'] ?? c['oauthToken'] ?? c['apiKey'] ?? c['password'] ?? null;
  };

  return (
    <>
      <div className="page-header">
        <div className="titles">
          <span className="breadcrumb">
            <Link to={paths.connections()}>Connections</Link> / <Link to={paths.integration(connection.providerConfigKey)}>{connection.providerConfigKey}</Link>
          </span>
          <h1 className="mono" style={{ fontSize: '1.3rem', overflowWrap: 'anywhere' }}>
            {connection.connectionId}
          </h1>
          <div className="row row-wrap">
            <StatusBadge status={connection.status} />
            <HealthBadge health={connection.health} />
            <span className="muted small">{healthSentence(connection) ?? statusSentence(connection)}</span>
          </div>
        </div>
        <div className="row row-wrap">
          <Button onClick={() => void refresh()} busy={refreshing} disabled={!renewable} title={renewable ? 'Ask the provider for a new access token now' : 'Only OAuth 2 connections with a refresh token can be refreshed'}>
            <RefreshIcon size={15} />
            Refresh now
          </Button>
          <Button variant="danger-outline" onClick={() => setDeleteOpen(true)}>
            <TrashIcon size={15} />
            Delete
          </Button>
        </div>
      </div>

      {refreshError ? (
        <div style={{ marginBottom: '1rem' }}>
          <Banner tone="error" role="alert" title="The refresh failed.">
            {refreshError}
          </Banner>
        </div>
      ) : null}

      <div className="stack">
        <div className="grid-2">
          <Section title="Credentials">
            <dl className="facts">
              <dt>Type</dt>
              <dd>
                {connection.credentialsType ?? '—'}
                {connection.tokenType ? <span className="muted"> · {connection.tokenType} token</span> : null}
              </dd>
              <dt>Scopes</dt>
              <dd className="mono">
                {connection.scopes.length > 0 ? connection.scopes.join(', ') : <span className="muted">none</span>}
                {connection.scopes.length > 0 && connection.scopesSource === 'requested' ? <span className="muted"> (requested)</span> : null}
              </dd>
              <dt>Expires</dt>
              <dd>{connection.expiresAt ? `${formatDate(connection.expiresAt)} (${formatRelative(connection.expiresAt)})` : 'Never'}</dd>
              <dt>Refresh token</dt>
              <dd>{connection.hasRefreshToken ? 'Yes' : 'No'}</dd>
              {secretLabel ? (
                <>
                  <dt>{secretLabel}</dt>
                  <dd>
                    <SecretValue load={loadToken} label="token" />
                  </dd>
                </>
              ) : null}
            </dl>
          </Section>
          <Section title="Last refresh">
            <dl className="facts">
              <dt>Last success</dt>
              <dd>{connection.lastRefreshSuccess ? `${formatDate(connection.lastRefreshSuccess)} (${formatRelative(connection.lastRefreshSuccess)})` : <span className="muted">never refreshed</span>}</dd>
              <dt>Last failure</dt>
              <dd>{connection.lastRefreshFailure ? `${formatDate(connection.lastRefreshFailure)} (${formatRelative(connection.lastRefreshFailure)})` : <span className="muted">none</span>}</dd>
              {connection.lastRefreshError ? (
                <>
                  <dt>Error</dt>
                  <dd>{connection.lastRefreshError}</dd>
                </>
              ) : null}
              <dt>Failed attempts</dt>
              <dd>{connection.refreshAttempts}</dd>
              <dt>Next background refresh</dt>
              <dd>{connection.refreshDueAt ? `${formatDate(connection.refreshDueAt)} (${formatRelative(connection.refreshDueAt)})` : <span className="muted">{connection.health === 'given_up' ? 'stopped: refresh by hand or reconnect' : 'none: these credentials are not renewed'}</span>}</dd>
            </dl>
          </Section>
        </div>

        <div className="grid-2">
          <Section title="End user">
            {connection.endUser ? (
              <dl className="facts">
                <dt>ID</dt>
                <dd className="mono">{connection.endUser.id}</dd>
                <dt>Name</dt>
                <dd>{connection.endUser.display_name ?? '—'}</dd>
                <dt>Email</dt>
                <dd>{connection.endUser.email ?? '—'}</dd>
                {connection.endUser.organization ? (
                  <>
                    <dt>Organization</dt>
                    <dd>{connection.endUser.organization.display_name ?? connection.endUser.organization.id}</dd>
                  </>
                ) : null}
                {Object.keys(connection.tags).length > 0 ? (
                  <>
                    <dt>Tags</dt>
                    <dd className="mono">{Object.entries(connection.tags).map(([key, value]) => `${key}=${value}`).join(', ')}</dd>
                  </>
                ) : null}
              </dl>
            ) : (
              <p className="muted">No end user: this connection was made with a connection ID chosen by the application (or imported).</p>
            )}
          </Section>
          <Section title="Details">
            <dl className="facts">
              <dt>Integration</dt>
              <dd>
                <Link to={paths.integration(connection.providerConfigKey)}>{connection.providerConfigKey}</Link> <span className="muted">({connection.providerDisplayName ?? connection.provider ?? 'unknown provider'})</span>
              </dd>
              <dt>Created</dt>
              <dd>{formatDate(connection.creationDate)}</dd>
              <dt>Updated</dt>
              <dd>{formatDate(connection.updatedAt)}</dd>
            </dl>
          </Section>
        </div>

        <div className="grid-2">
          <Section title="Metadata">
            {Object.keys(connection.metadata).length > 0 ? <pre className="json">{JSON.stringify(connection.metadata, null, 2)}</pre> : <p className="muted">No metadata. Your backend sets it with setMetadata().</p>}
          </Section>
          <Section title="Connection configuration">
            {Object.keys(connection.connectionConfig).length > 0 ? <pre className="json">{JSON.stringify(connection.connectionConfig, null, 2)}</pre> : <p className="muted">None.</p>}
          </Section>
        </div>

        <section className="card" aria-label="Latest events">
          <div className="card-header">
            <h2>Latest events</h2>
            <Link className="small" to={paths.auditLog({ integration: connection.providerConfigKey, connectionId: connection.connectionId })}>
              All events in the audit log
            </Link>
          </div>
          {events.length > 0 ? (
            <ul className="events">
              {events.map((event) => (
                <li key={event.id}>
                  <span className="muted" title={event.at}>
                    {formatDate(event.at)}
                  </span>
                  <span>
                    <strong>{auditActionLabel(event.action)}</strong>
                    <TimesBadge count={event.count} /> <span className="muted">by {event.principal}</span>
                    <span className="muted small mono"> · {event.route}</span>
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <div className="card-body">
              <p className="muted">No events recorded yet.</p>
            </div>
          )}
        </section>
      </div>

      <Dialog
        open={deleteOpen}
        onClose={() => setDeleteOpen(false)}
        title="Delete this connection?"
        footer={
          <>
            <Button onClick={() => setDeleteOpen(false)} autoFocus>
              Cancel
            </Button>
            <Button variant="danger" busy={deleting} onClick={() => void remove()}>
              Delete connection
            </Button>
          </>
        }
      >
        <p>
          The tokens of <code>{connection.connectionId}</code> are deleted from this server. The end user has to connect again; the grant at the provider is not revoked. This cannot be undone.
        </p>
      </Dialog>
    </>
  );
}
