import { useEffect, useId, useState } from 'react';
import { formatDate } from '../../shared/format';
import { ChevronLeftIcon, ChevronRightIcon, LinkIcon, SearchIcon } from '../../shared/icons';
import { Button, EmptyState, ErrorState, HealthBadge, SearchField, StatusBadge } from '../../shared/ui';
import { api, useResource, type ConnectionSummary, type IntegrationSummary } from '../api';
import { Link, navigate, paths, useLocation } from '../router';
import { healthSentence, SkeletonRows, statusSentence } from './parts';

const PAGE_SIZE = 20;

export function ConnectionsPage() {
  const id = useId();
  const { search: params } = useLocation();
  const search = params.get('search') ?? '';
  const integration = params.get('integration') ?? '';
  const status = params.get('status') ?? '';
  const page = Math.max(0, Number.parseInt(params.get('page') ?? '0', 10) || 0);
  const [typed, setTyped] = useState(search);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!('page' in changes)) next.delete('page');
    const query = next.toString();
    navigate(`${paths.connections()}${query ? `?${query}` : ''}`, { replace: true });
  };

  // Search as one types, a moment after the last key.
  useEffect(() => {
    if (typed === search) return;
    const timer = window.setTimeout(() => update({ search: typed.trim() }), 250);
    return () => window.clearTimeout(timer);
  }, [typed]);

  const integrations = useResource(() => api<{ integrations: IntegrationSummary[] }>('GET', '/api/v1/integration'), []);
  const list = useResource(() => {
    const query = new URLSearchParams({ page: String(page), limit: String(PAGE_SIZE) });
    if (search) query.set('search', search);
    if (integration) query.set('integration', integration);
    if (status) query.set('status', status);
    return api<{ connections: ConnectionSummary[]; total: number }>('GET', `/api/v1/connection?${query.toString()}`);
  }, [search, integration, status, page]);

  const rows = list.data?.connections;
  const total = list.data?.total ?? 0;
  const filtered = Boolean(search || integration || status);
  const from = total === 0 ? 0 : page * PAGE_SIZE + 1;
  const to = Math.min(total, (page + 1) * PAGE_SIZE);

  return (
    <>
      <div className="page-header">
        <div className="titles">
          <h1>Connections</h1>
          <p>Your end users’ accounts at each provider, with the state of their tokens.</p>
        </div>
      </div>
      <div className="toolbar" role="search">
        <SearchField id={`${id}-search`} label="Search connections" placeholder="Connection ID, end user, email…" value={typed} onChange={setTyped} />
        <label htmlFor={`${id}-integration`} className="sr-only">
          Integration
        </label>
        <select id={`${id}-integration`} className="select" value={integration} onChange={(event) => update({ integration: event.target.value })}>
          <option value="">All integrations</option>
          {(integrations.data?.integrations ?? []).map((item) => (
            <option key={item.uniqueKey} value={item.uniqueKey}>
              {item.uniqueKey}
            </option>
          ))}
          {integration && integrations.data && !integrations.data.integrations.some((item) => item.uniqueKey === integration) ? <option value={integration}>{integration}</option> : null}
        </select>
        <label htmlFor={`${id}-status`} className="sr-only">
          Status
        </label>
        <select id={`${id}-status`} className="select" value={status} onChange={(event) => update({ status: event.target.value })}>
          <option value="">Any status</option>
          <option value="healthy">Healthy</option>
          <option value="expiring">Expiring</option>
          <option value="refresh_failed">Refresh failed</option>
          <option value="needs_attention">Needs attention</option>
        </select>
      </div>
      <div className="card">
        {list.error && !rows ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : rows && rows.length === 0 ? (
          filtered ? (
            <EmptyState
              icon={<SearchIcon />}
              title="No connection matches"
              action={
                <Button
                  onClick={() => {
                    setTyped('');
                    navigate(paths.connections(), { replace: true });
                  }}
                >
                  Clear the filters
                </Button>
              }
            >
              {search ? `Nothing matches “${search}”` : 'Nothing matches these filters'}
              {integration ? ` in ${integration}` : ''}.
            </EmptyState>
          ) : (
            <EmptyState
              icon={<LinkIcon />}
              title="No connections yet"
              action={
                <Link className="btn btn-primary" to={paths.integrations}>
                  Go to integrations
                </Link>
              }
            >
              A connection appears when an end user connects an account, through your app’s Connect UI or the “Try it” button of an integration.
            </EmptyState>
          )
        ) : (
          <>
            <div className="table-wrap">
              <table className="table table-cards" aria-busy={list.loading}>
                <caption className="sr-only">Connections</caption>
                <thead>
                  <tr>
                    <th scope="col">Connection</th>
                    <th scope="col">Integration</th>
                    <th scope="col" className="hide-narrow">
                      End user
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col" className="hide-narrow">
                      Created
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows
                    ? rows.map((row) => (
                        <tr key={row.id}>
                          <td>
                            <Link to={paths.connection(row.providerConfigKey, row.connectionId)} className="mono">
                              {row.connectionId}
                            </Link>
                          </td>
                          <td data-label="Integration">
                            <Link to={paths.integration(row.providerConfigKey)}>{row.providerConfigKey}</Link>
                          </td>
                          <td className="hide-narrow" data-label="End user">{row.endUser ? (row.endUser.display_name ?? row.endUser.email ?? row.endUser.id) : <span className="muted">—</span>}</td>
                          <td title={healthSentence(row) ?? statusSentence(row)} data-label="Status">
                            <StatusBadge status={row.status} /> <HealthBadge health={row.health} />
                          </td>
                          <td className="hide-narrow muted" data-label="Created">
                            {formatDate(row.creationDate)}
                          </td>
                        </tr>
                      ))
                    : <SkeletonRows columns={5} />}
                </tbody>
              </table>
            </div>
            <div className="pagination">
              <span aria-live="polite">{rows ? (total === 0 ? 'No connections' : `${from}–${to} of ${total}`) : 'Loading…'}</span>
              <div className="row">
                <Button size="sm" disabled={page === 0} onClick={() => update({ page: String(page - 1) })} aria-label="Previous page">
                  <ChevronLeftIcon size={15} />
                  Previous
                </Button>
                <Button size="sm" disabled={to >= total} onClick={() => update({ page: String(page + 1) })} aria-label="Next page">
                  Next
                  <ChevronRightIcon size={15} />
                </Button>
              </div>
            </div>
          </>
        )}
      </div>
    </>
  );
}
