import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { pageConfig } from '../shared/config';
import '../shared/styles.css';
import { App } from './App';
import type { DashboardConfig } from './dashboard-context';

const config = pageConfig<DashboardConfig>({
  serverUrl: window.location.origin,
  connectUrl: `${window.location.origin}/connect`,
  callbackUrl: `${window.location.origin}/oauth/callback`,
  dashboardAuth: true,
  dashboardSignIn: 'dashboard_password',
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App config={config} />
  </StrictMode>,
);
