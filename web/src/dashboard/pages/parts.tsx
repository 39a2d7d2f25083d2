import type { ReactNode } from 'react';
import { formatRelative } from '../../shared/format';
import type { ConnectionDetail, ConnectionSummary, HealthState, StatusReason } from '../api';

export function SkeletonRows({ columns, rows = 3 }: { columns: number; rows?: number }) {
  return (
    <>
      {Array.from({ length: rows }, (_, row) => (
        <tr key={row} aria-hidden="true">
          {Array.from({ length: columns }, (_, column) => (
            <td key={column}>
              <span className="skeleton" style={{ width: column === 0 ? '70%' : '50%' }} />
            </td>
          ))}
        </tr>
      ))}
    </>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <div className="card-header">
        <h2>{title}</h2>
        {actions}
      </div>
      <div className="card-body">{children}</div>
    </section>
  );
}

/** What each audit action is called on the pages, grouped by what it touches (the audit log's action filter). */
export const AUDIT_ACTION_GROUPS: { label: string; actions: Record<string, string> }[] = [
  {
    label: 'Connections',
    actions: {
      'credentials.read': 'Credentials read',
      'credentials.use': 'Credentials used (proxy)',
      'connection.create': 'Connected',
      'connection.reauthorize': 'Reconnected',
      'connection.update': 'Connection updated',
      'connection.refresh': 'Token refreshed',
      'connection.refresh_failed': 'Refresh failed',
      'connection.refresh_given_up': 'Refreshes given up',
      'connection.delete': 'Connection deleted',
    },
  },
  {
    label: 'Integrations',
    actions: {
      'integration.create': 'Integration created',
      'integration.update': 'Integration updated',
      'integration.credentials_read': 'Client secret read',
      'integration.delete': 'Integration deleted',
    },
  },
];

const AUDIT_ACTION_LABELS: Record<string, string> = Object.fromEntries(AUDIT_ACTION_GROUPS.flatMap((group) => Object.entries(group.actions)));

/** The page's name for an audit action; an action this page does not know yet shows as recorded. */
export function auditActionLabel(action: string): string {
  return AUDIT_ACTION_LABELS[action] ?? action;
}

/** A row that stands for several identical entries, written in the same instant, says how many (the API's `count`). */
export function TimesBadge({ count }: { count: number }) {
  if (count <= 1) return null;
  return <span className="muted" title={`${count} identical entries at the same time`}> × {count}</span>;
}

/** One sentence on what the token keeper says of a connection needing attention; null when it is healthy. */
export function healthSentence(connection: Pick<ConnectionSummary | ConnectionDetail, 'health' | 'healthSince'>): string | null {
  const since = formatRelative(connection.healthSince);
  const sentences: Record<HealthState, string | null> = {
    healthy: null,
    refresh_failed: `Background refreshes have failed since ${since}; they are retried with growing pauses.`,
    given_up: `Background refreshes stopped ${since} after failing for too long: the end user must connect again, or use “Refresh now” once the provider accepts the token.`,
    expired: `Expired ${since} and cannot be renewed: the end user must connect again.`,
  };
  return sentences[connection.health];
}

/** One sentence on why a connection has its status and what happens next. */
export function statusSentence(connection: Pick<ConnectionSummary | ConnectionDetail, 'statusReason' | 'expiresAt' | 'lastRefreshError' | 'refreshAttempts'>): string {
  const when = formatRelative(connection.expiresAt);
  const reasons: Record<StatusReason, string> = {
    refresh_failed: `The last refresh failed${connection.refreshAttempts > 1 ? ` (${connection.refreshAttempts} attempts in a row)` : ''}: ${connection.lastRefreshError ?? 'no detail recorded'}`,
    expired_no_refresh_token: `Expired ${when} and has no refresh token: the end user must connect again.`,
    expired: `Expired ${when}; it is refreshed in the background, or at the next read.`,
    expires_soon_no_refresh_token: `Expires ${when} and has no refresh token: the end user will have to connect again.`,
    expires_soon: `Expires ${when}; it is refreshed in the background, or at the next read.`,
    valid: `Valid; expires ${when}.`,
    no_expiry: 'Valid; the credentials do not expire.',
  };
  return reasons[connection.statusReason];
}

/** For providers whose host comes from each connection: the one host the integration's OAuth app lives on. */
export function PinnedHostField({ id, value, onChange }: { id: string; value: string; onChange: (value: string) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>
        Pinned host <span className="optional">(optional)</span>
      </label>
      <input id={id} className="input mono" value={value} onChange={(event) => onChange(event.target.value)} placeholder="gitlab.example.com" autoComplete="off" spellCheck={false} aria-describedby={`${id}-hint`} />
      <span className="hint" id={`${id}-hint`}>
        The only host this integration&apos;s connections may use, with a port if it is not the default. Set it when the OAuth app is registered on one server: the client secret then never goes anywhere else, whatever host an end user types.
      </span>
    </div>
  );
}
