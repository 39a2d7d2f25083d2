import { useEffect, useId, useState } from 'react';
import { formatTimestamp, plural } from '../../shared/format';
import { AuditIcon, ChevronLeftIcon, ChevronRightIcon, SearchIcon } from '../../shared/icons';
import { Button, EmptyState, ErrorState, SearchField } from '../../shared/ui';
import { api, DashboardApiError, useResource, type AuditEntry, type AuditLogPage as AuditLogPageData, type IntegrationSummary } from '../api';
import { Link, navigate, paths, useLocation } from '../router';
import { AUDIT_ACTION_GROUPS, auditActionLabel, SkeletonRows, TimesBadge } from './parts';

const PAGE_SIZE = 50;
/** The URL parameters that narrow the list; the paging cursors are the other two. */
const FILTERS = ['integration', 'connectionId', 'action', 'principal', 'since', 'until'] as const;

export function AuditLogPage() {
  const id = useId();
  const { search: params } = useLocation();
  const filters = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const before = params.get('before') ?? '';
  const after = params.get('after') ?? '';

  const update = (changes: Record<string, string>) => {
    // The address as it is now, not as this render saw it: a debounced filter applies after other changes.
    const next = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    // A new filter starts again from the newest entry.
    if (!('before' in changes) && !('after' in changes)) {
      next.delete('before');
      next.delete('after');
    }
    const query = next.toString();
    navigate(`${paths.auditLog()}${query ? `?${query}` : ''}`, { replace: true });
  };

  const [typedConnection, setTypedConnection] = useDebouncedFilter(filters.connectionId, (value) => update({ connectionId: value }));
  const [typedPrincipal, setTypedPrincipal] = useDebouncedFilter(filters.principal, (value) => update({ principal: value }));

  const integrations = useResource(() => api<{ integrations: IntegrationSummary[] }>('GET', '/api/v1/integration'), []);
  const list = useResource(() => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const name of FILTERS) if (filters[name]) query.set(name, filters[name]);
    if (before) query.set('before', before);
    if (after) query.set('after', after);
    return api<AuditLogPageData>('GET', `/api/v1/audit-log?${query.toString()}`);
  }, [...FILTERS.map((name) => filters[name]), before, after]);

  const entries = list.data?.entries;
  const kept = list.data ? `kept ${list.data.retentionDays} days` : '';
  const filtered = FILTERS.some((name) => filters[name]) || Boolean(before || after);
  const clear = () => {
    setTypedConnection('');
    setTypedPrincipal('');
    navigate(paths.auditLog(), { replace: true });
  };
  // A refused filter (a hand-edited address) is explained with a way out, not a retry that would fail again.
  const refusedFilter = list.error instanceof DashboardApiError && list.error.status === 400 ? list.error : undefined;

  return (
    <>
      <div className="page-header">
        <div className="titles">
          <h1>Audit log</h1>
          <p>Every read of a credential and every change to an integration or connection: when, by whom, and through which route.</p>
        </div>
      </div>
      <div className="toolbar" role="search" aria-label="Filter the audit log">
        <SearchField id={`${id}-connection`} label="Connection ID" placeholder="Connection ID" value={typedConnection} onChange={setTypedConnection} />
        <SearchField
          id={`${id}-principal`}
          label="Principal"
          placeholder="Principal, e.g. dashboard:"
          hint="Matches principals that start with this text."
          value={typedPrincipal}
          onChange={setTypedPrincipal}
        />
        <label htmlFor={`${id}-integration`} className="sr-only">
          Integration
        </label>
        <select id={`${id}-integration`} className="select" value={filters.integration} onChange={(event) => update({ integration: event.target.value })}>
          <option value="">All integrations</option>
          {(integrations.data?.integrations ?? []).map((item) => (
            <option key={item.uniqueKey} value={item.uniqueKey}>
              {item.uniqueKey}
            </option>
          ))}
          {/* A deleted integration keeps its entries: a link to them must still show its key. */}
          {filters.integration && !(integrations.data?.integrations ?? []).some((item) => item.uniqueKey === filters.integration) ? (
            <option value={filters.integration}>{filters.integration}</option>
          ) : null}
        </select>
        <label htmlFor={`${id}-action`} className="sr-only">
          Action
        </label>
        <select id={`${id}-action`} className="select" value={filters.action} onChange={(event) => update({ action: event.target.value })}>
          <option value="">Any action</option>
          {AUDIT_ACTION_GROUPS.map((group) => (
            <optgroup key={group.label} label={group.label}>
              {Object.entries(group.actions).map(([action, label]) => (
                <option key={action} value={action}>
                  {label}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
        <TimeInput id={`${id}-since`} label="From" value={filters.since} onChange={(value) => update({ since: value })} />
        <TimeInput id={`${id}-until`} label="To" value={filters.until} onChange={(value) => update({ until: value })} />
      </div>
      <div className="card">
        {refusedFilter ? (
          <ErrorState error={refusedFilter} title="These filters cannot be used" action={<Button onClick={clear}>Clear the filters</Button>} />
        ) : list.error && !entries ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : entries && entries.length === 0 ? (
          filtered ? (
            <EmptyState icon={<SearchIcon />} title="No entry matches" action={<Button onClick={clear}>Clear the filters</Button>}>
              Nothing in the audit log matches these filters.
            </EmptyState>
          ) : (
            <EmptyState
              icon={<AuditIcon />}
              title="No audit entries yet"
              action={
                <Link className="btn btn-primary" to={paths.connections()}>
                  Go to connections
                </Link>
              }
            >
              An entry is written whenever a token is read, used through the proxy or refreshed, and whenever an integration or a connection is created, changed or deleted. Entries are {kept}.
            </EmptyState>
          )
        ) : (
          <>
            <div className="table-wrap">
              <table className="table table-cards" aria-busy={list.loading}>
                <caption className="sr-only">Audit log, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Action</th>
                    <th scope="col">Principal</th>
                    <th scope="col">Connection</th>
                    <th scope="col" className="hide-narrow">
                      Route
                    </th>
                  </tr>
                </thead>
                <tbody>{entries ? entries.map((entry) => <AuditRow key={entry.id} entry={entry} />) : <SkeletonRows columns={5} />}</tbody>
              </table>
            </div>
            <div className="pagination">
              <span aria-live="polite">{entries ? `${plural(entries.length, 'entry', 'entries')}, newest first · ${kept}` : 'Loading…'}</span>
              <div className="row">
                <Button size="sm" disabled={!list.data?.newerCursor} onClick={() => update({ after: list.data?.newerCursor ?? '', before: '' })} aria-label="Newer entries">
                  <ChevronLeftIcon size={15} />
                  Newer
                </Button>
                <Button size="sm" disabled={!list.data?.olderCursor} onClick={() => update({ before: list.data?.olderCursor ?? '', after: '' })} aria-label="Older entries">
                  Older
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

function AuditRow({ entry }: { entry: AuditEntry }) {
  const details = Object.entries(entry.details);
  return (
    <tr>
      <td className="muted" title={entry.at}>
        <time dateTime={entry.at}>{formatTimestamp(entry.at)}</time>
      </td>
      <td data-label="Action">
        <strong>{auditActionLabel(entry.action)}</strong>
        <TimesBadge count={entry.count} />
        {details.length > 0 ? <div className="muted small">{details.map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' · ')}</div> : null}
      </td>
      <td className="mono small" style={{ overflowWrap: 'anywhere' }} data-label="Principal">
        {entry.principal}
      </td>
      <td data-label="Connection">
        {entry.providerConfigKey && entry.connectionId ? (
          <>
            <Link to={paths.connection(entry.providerConfigKey, entry.connectionId)} className="mono">
              {entry.connectionId}
            </Link>
            <div className="muted small">{entry.providerConfigKey}</div>
          </>
        ) : entry.providerConfigKey ? (
          <Link to={paths.integration(entry.providerConfigKey)}>{entry.providerConfigKey}</Link>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td className="hide-narrow muted small mono" data-label="Route">
        {entry.route}
      </td>
    </tr>
  );
}

/** A date and time in the browser's zone, kept in the address as an ISO instant. The label is shown beside the field. */
function TimeInput({ id, label, value, onChange }: { id: string; label: string; value: string; onChange: (iso: string) => void }) {
  return (
    <div className="input-affix">
      <label htmlFor={id} className="affix">
        {label}
      </label>
      <input id={id} className="input" type="datetime-local" value={toLocalInput(value)} onChange={(event) => onChange(fromLocalInput(event.target.value))} />
    </div>
  );
}

function toLocalInput(iso: string): string {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return '';
  // datetime-local shows wall-clock time without a zone: shift the instant by the zone's offset.
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function fromLocalInput(value: string): string {
  const date = new Date(value);
  return value && !Number.isNaN(date.getTime()) ? date.toISOString() : '';
}

/** A text filter applied a moment after the last key. */
function useDebouncedFilter(applied: string, apply: (value: string) => void): [string, (value: string) => void] {
  const [typed, setTyped] = useState(applied);
  useEffect(() => {
    if (typed.trim() === applied) return;
    const timer = window.setTimeout(() => apply(typed.trim()), 250);
    return () => window.clearTimeout(timer);
  }, [typed]);
  return [typed, setTyped];
}
