import type { ReactNode } from 'react';
import { formatRelative } from '../../shared/format';
import type { ConnectionDetail, ConnectionSummary, StatusReason } from '../api';

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

/** One sentence on why a connection has its status and what happens next. */
export function statusSentence(connection: Pick<ConnectionSummary | ConnectionDetail, 'statusReason' | 'expiresAt' | 'lastRefreshError' | 'refreshAttempts'>): string {
  const when = formatRelative(connection.expiresAt);
  const reasons: Record<StatusReason, string> = {
    refresh_failed: `The last refresh failed${connection.refreshAttempts > 1 ? ` (${connection.refreshAttempts} attempts in a row)` : ''}: ${connection.lastRefreshError ?? 'no detail recorded'}`,
    expired_no_refresh_token: `Expired ${when} and has no refresh token: the end user must connect again.`,
    expired: `Expired ${when}; it is refreshed at the next read.`,
    expires_soon_no_refresh_token: `Expires ${when} and has no refresh token: the end user will have to connect again.`,
    expires_soon: `Expires ${when}; it is refreshed at the next read.`,
    valid: `Valid; expires ${when}.`,
    no_expiry: 'Valid; the credentials do not expire.',
  };
  return reasons[connection.statusReason];
}
