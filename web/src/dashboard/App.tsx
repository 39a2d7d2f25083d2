import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { AuditIcon, LinkIcon, PlugIcon, SettingsIcon } from '../shared/icons';
import { Banner } from '../shared/ui';
import { AuditLogPage } from './pages/AuditLogPage';
import { ConnectionPage } from './pages/ConnectionPage';
import { ConnectionsPage } from './pages/ConnectionsPage';
import { IntegrationPage } from './pages/IntegrationPage';
import { IntegrationsPage } from './pages/IntegrationsPage';
import { NewIntegrationPage } from './pages/NewIntegrationPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { SettingsPage } from './pages/SettingsPage';
import { ConfigContext, ToastContext, type DashboardConfig, type ToastTone } from './dashboard-context';
import { Link, navigate, paths, useLocation } from './router';

type Toast = { id: number; tone: ToastTone; text: string };

function route(path: string): { page: ReactNode; section: 'integrations' | 'connections' | 'audit-log' | 'settings' | null; title: string } {
  const parts = path.split('/').filter(Boolean).map((part) => decodeURIComponent(part));
  if (parts[0] !== 'dashboard') return { page: <NotFoundPage />, section: null, title: 'Not found' };
  const [, section, first, second, ...rest] = parts;
  if (section === 'integrations') {
    if (!first) return { page: <IntegrationsPage />, section, title: 'Integrations' };
    if (first === 'new' && !second) return { page: <NewIntegrationPage />, section, title: 'New integration' };
    if (!second) return { page: <IntegrationPage uniqueKey={first} />, section, title: first };
  }
  if (section === 'connections') {
    if (!first) return { page: <ConnectionsPage />, section, title: 'Connections' };
    if (second && rest.length === 0) return { page: <ConnectionPage providerConfigKey={first} connectionId={second} />, section, title: second };
  }
  if (section === 'audit-log' && !first) return { page: <AuditLogPage />, section, title: 'Audit log' };
  if (section === 'settings' && !first) return { page: <SettingsPage />, section, title: 'Settings' };
  return { page: <NotFoundPage />, section: null, title: 'Not found' };
}

export function App({ config }: { config: DashboardConfig }) {
  const { path } = useLocation();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(0);
  const notify = useCallback((text: string, tone: Toast['tone'] = 'success') => {
    const id = ++nextId.current;
    setToasts((current) => [...current, { id, tone, text }]);
    window.setTimeout(() => setToasts((current) => current.filter((toast) => toast.id !== id)), 5000);
  }, []);

  useEffect(() => {
    if (path === '/' || path === '/dashboard') navigate(paths.integrations, { replace: true });
  }, [path]);

  const current = route(path === '/' || path === '/dashboard' ? paths.integrations : path);
  useEffect(() => {
    document.title = `${current.title} · Custody`;
  }, [current.title]);

  const nav = (to: string, section: string, icon: ReactNode, label: string) => (
    <Link to={to} aria-current={current.section === section ? 'page' : undefined}>
      {icon}
      {label}
    </Link>
  );

  return (
    <ConfigContext.Provider value={config}>
      <ToastContext.Provider value={notify}>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <div className="app">
          <aside className="sidebar">
            <Link to={paths.integrations} className="brand">
              <img src="/favicon.svg" alt="" width={28} height={28} />
              Custody
            </Link>
            <nav className="nav" aria-label="Main">
              {nav(paths.integrations, 'integrations', <PlugIcon />, 'Integrations')}
              {nav(paths.connections(), 'connections', <LinkIcon />, 'Connections')}
              {nav(paths.auditLog(), 'audit-log', <AuditIcon />, 'Audit log')}
              {nav(paths.settings, 'settings', <SettingsIcon />, 'Settings')}
            </nav>
            <div className="sidebar-footer">OAuth credential server</div>
          </aside>
          <div className="main">
            {config.dashboardSignIn === 'none' ? (
              <Banner tone="warning" title="This dashboard is open.">
                The server has no secret key, so anyone who can reach it can manage integrations and read tokens; it listens on this machine only unless SERVER_HOST says otherwise. Set NANGO_SECRET_KEY (and NANGO_DASHBOARD_USERNAME and NANGO_DASHBOARD_PASSWORD) to require a sign-in.
              </Banner>
            ) : null}
            <main id="main" className="content" tabIndex={-1}>
              {current.page}
            </main>
          </div>
        </div>
        <div className="toast-region" aria-live="polite">
          {toasts.map((toast) => (
            <div key={toast.id} className="toast">
              <Banner tone={toast.tone} role={toast.tone === 'error' ? 'alert' : 'status'}>
                {toast.text}
              </Banner>
            </div>
          ))}
        </div>
      </ToastContext.Provider>
    </ConfigContext.Provider>
  );
}
