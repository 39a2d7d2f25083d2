import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/** A small history-API router: the dashboard has a handful of pages and needs nothing more. */
const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  for (const listener of listeners) listener();
  if (!options.replace) window.scrollTo(0, 0);
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const current = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(current, window.location.origin);
  return { path: url.pathname.replace(/\/+$/, '') || '/', search: url.searchParams };
}

export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    // Let the browser handle new-tab and download gestures.
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}

export const paths = {
  integrations: '/dashboard/integrations',
  newIntegration: '/dashboard/integrations/new',
  integration: (key: string) => `/dashboard/integrations/${encodeURIComponent(key)}`,
  connections: (filter: { integration?: string } = {}) => `/dashboard/connections${filter.integration ? `?integration=${encodeURIComponent(filter.integration)}` : ''}`,
  connection: (key: string, id: string) => `/dashboard/connections/${encodeURIComponent(key)}/${encodeURIComponent(id)}`,
  auditLog: (filter: { integration?: string; connectionId?: string } = {}) => {
    const query = new URLSearchParams();
    if (filter.integration) query.set('integration', filter.integration);
    if (filter.connectionId) query.set('connectionId', filter.connectionId);
    const text = query.toString();
    return `/dashboard/audit-log${text ? `?${text}` : ''}`;
  },
  settings: '/dashboard/settings',
};
