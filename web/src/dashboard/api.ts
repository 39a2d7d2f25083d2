import { useCallback, useEffect, useRef, useState } from 'react';

/** An error body of `/api/v1/*`: `{error, type, payload}` (Nango's seed format). */
export class DashboardApiError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly status: number,
    readonly payload: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new DashboardApiError('The server cannot be reached. Check that it is running, then try again.', 'network_error', 0);
  }
  if (response.status === 401 && !(response.headers.get('content-type') ?? '').includes('json')) {
    throw new DashboardApiError('Your dashboard sign-in is missing or expired. Reload the page to sign in again.', 'unauthorized', 401);
  }
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) {
    const error = parsed as { error?: string; type?: string; payload?: Record<string, unknown> } | undefined;
    throw new DashboardApiError(error?.error ?? `The server answered ${response.status}.`, error?.type ?? 'unknown_error', response.status, error?.payload ?? {});
  }
  return parsed as T;
}

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads data for a page; keeps the previous data while reloading so nothing jumps. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [version, setVersion] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    setLoading(true);
    load()
      .then((value) => {
        if (call !== latest.current) return;
        setData(value);
        setError(undefined);
      })
      .catch((caught: unknown) => {
        if (call === latest.current) setError(caught);
      })
      .finally(() => {
        if (call === latest.current) setLoading(false);
      });
    // `load` is a new closure each render; `deps` says when it matters.
  }, [...deps, version]);
  const reload = useCallback(() => setVersion((value) => value + 1), []);
  return { data, error, loading, reload };
}

// ---- shapes of /api/v1/* ----

export interface Settings {
  version: string;
  serverUrl: string;
  callbackUrl: string;
  connectUrl: string;
  secretKeyConfigured: boolean;
  encryptionEnabled: boolean;
  encryptionRotating: boolean;
  hmac: { enabled: boolean; algorithm?: string };
  webhookUrl: string | null;
  webhookSigned: boolean;
  dashboardAuth: boolean;
  dashboardSignIn: 'dashboard_password' | 'secret_key' | 'none';
  publicConnect: boolean;
  database: 'embedded' | 'external';
  /** The variables the server reads for its database, with safe values (never a password). */
  databaseSettings: { variable: string; value: string }[];
  providersFile: string | null;
  auditRetentionDays: number;
  /** The token keeper's settings (NANGO_REFRESH_*); a sweep of 0 seconds means it is off. */
  tokenKeeper: { sweepSeconds: number; maxAgeHours: number; giveUpDays: number; concurrency: number };
  telemetry: boolean;
  telemetryEndpointSet: boolean;
  /** This server's clock against PostgreSQL's and the providers' (offset: theirs minus ours, in seconds). */
  clock: {
    limitSeconds: number;
    drifting: boolean;
    database: ClockReading | null;
    provider: ClockReading | null;
  } | null;
}

export interface ClockReading {
  offsetSeconds: number;
  peer: string;
  checkedAt: string;
}

export interface IntegrationSummary {
  uniqueKey: string;
  provider: string;
  connectionCount: number;
  creationDate: string;
  connectionConfigParams?: string[];
  displayName: string;
  authMode: string | null;
  logoUrl: string;
}

export interface IntegrationDetail {
  uniqueKey: string;
  provider: string;
  clientId: string | null;
  /** Null for a mode whose secret is a private key: it is never read back. */
  clientSecret: string | null;
  /** A GitHub App's public link. */
  appLink: string | null;
  scopes: string | null;
  displayName: string;
  authMode: string | null;
  creationDate: string;
  updatedAt: string;
  connectionCount: number;
  callbackUrl: string;
  docs: string | null;
  logoUrl: string;
  /** The provider's URLs take their host from each connection (self-managed GitLab, Okta…). */
  hostFromConnection?: boolean;
  /** The only host its connections may use, when the operator pinned one. */
  pinnedHost: string | null;
}

export interface ProviderSummary {
  name: string;
  defaultScopes: string[];
  displayName: string;
  authMode: string;
  categories: string[];
  logoUrl: string;
}

export interface ProviderDetail extends ProviderSummary {
  docs: string | null;
  docsConnect: string | null;
  scopeSeparator: string;
  connectionConfig: Record<string, import('../shared/provider-form').FieldSpec>;
  credentials: Record<string, import('../shared/provider-form').FieldSpec>;
  connectionConfigParams: string[];
  hostFromConnection: boolean;
}

export type ConnectionStatus = 'healthy' | 'expiring' | 'refresh_failed';
/** What the token keeper says of a connection (src/keeper/connection-health.ts). */
export type HealthState = 'healthy' | 'refresh_failed' | 'given_up' | 'expired';
export type StatusReason = 'refresh_failed' | 'expired_no_refresh_token' | 'expired' | 'expires_soon_no_refresh_token' | 'expires_soon' | 'valid' | 'no_expiry';

export interface EndUser {
  id: string;
  display_name: string | null;
  email: string | null;
  tags: Record<string, string>;
  organization: { id: string; display_name: string | null } | null;
}

export interface ConnectionSummary {
  id: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string | null;
  creationDate: string;
  status: ConnectionStatus;
  statusReason: StatusReason;
  endUser: EndUser | null;
  credentialsType: string | null;
  expiresAt: string | null;
  hasRefreshToken: boolean;
  lastRefreshSuccess: string | null;
  lastRefreshFailure: string | null;
  lastRefreshError: string | null;
  refreshAttempts: number;
  health: HealthState;
  healthSince: string | null;
}

export interface ConnectionDetail {
  id: number;
  connectionId: string;
  providerConfigKey: string;
  provider: string | null;
  providerDisplayName: string | null;
  authMode: string | null;
  creationDate: string;
  updatedAt: string;
  status: ConnectionStatus;
  statusReason: StatusReason;
  health: HealthState;
  healthSince: string | null;
  /** When the token keeper next refreshes it; null when it never will. */
  refreshDueAt: string | null;
  credentialsType: string | null;
  tokenType: string | null;
  scopes: string[];
  scopesSource: 'granted' | 'requested';
  expiresAt: string | null;
  hasRefreshToken: boolean;
  /** The credentials' mode can renew them without the end user (a refresh token, the client's own secret). */
  renewable: boolean;
  connectionConfig: Record<string, unknown>;
  metadata: Record<string, unknown>;
  endUser: EndUser | null;
  tags: Record<string, string>;
  lastRefreshSuccess: string | null;
  lastRefreshFailure: string | null;
  lastRefreshError: string | null;
  refreshAttempts: number;
}

/** One entry of `GET /api/v1/audit-log`. */
export interface AuditEntry {
  id: string;
  at: string;
  action: string;
  route: string;
  principal: string;
  providerConfigKey: string | null;
  connectionId: string | null;
  details: Record<string, unknown>;
  /** Identical entries this row stands for (written together, so at the same time). */
  count: number;
}

export interface AuditLogPage {
  entries: AuditEntry[];
  /** `before` of the next, older page; null on the oldest. */
  olderCursor: string | null;
  /** `after` of the previous, newer page; null on the newest. */
  newerCursor: string | null;
  limit: number;
  retentionDays: number;
}

export interface ConnectionEvent {
  id: string;
  at: string;
  action: string;
  principal: string;
  route: string;
  details: Record<string, unknown>;
  count: number;
}
