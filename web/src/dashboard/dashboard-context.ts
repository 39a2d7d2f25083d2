import { createContext, useContext } from 'react';

/** The server's settings, injected into the page (see src/routes/static-web.ts). */
export interface DashboardConfig {
  serverUrl: string;
  connectUrl: string;
  callbackUrl: string;
  /** NANGO_DASHBOARD_USERNAME/PASSWORD are set. */
  dashboardAuth: boolean;
  /** How the dashboard is entered; 'none' only on a server without a secret key. */
  dashboardSignIn: 'dashboard_password' | 'secret_key' | 'none';
}

export const ConfigContext = createContext<DashboardConfig>({ serverUrl: '', connectUrl: '', callbackUrl: '', dashboardAuth: true, dashboardSignIn: 'dashboard_password' });
export const useDashboardConfig = () => useContext(ConfigContext);

export type ToastTone = 'success' | 'error';
/** Shows a short message in the corner of the page for a few seconds. */
export const ToastContext = createContext<(text: string, tone?: ToastTone) => void>(() => undefined);
export const useToast = () => useContext(ToastContext);
