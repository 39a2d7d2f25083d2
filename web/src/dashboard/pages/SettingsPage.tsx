import type { ReactNode } from 'react';
import { Banner, CopyBox, ErrorState, OnOff, SecretValue, Spinner } from '../../shared/ui';
import { api, useResource, type ClockReading, type Settings } from '../api';
import { Section } from './parts';

export function SettingsPage() {
  const resource = useResource(() => api<{ settings: Settings }>('GET', '/api/v1/settings'), []);
  const settings = resource.data?.settings;
  return (
    <>
      <div className="page-header">
        <div className="titles">
          <h1>Settings</h1>
          <p>How this server is configured. Every value comes from an environment variable; change them there and restart.</p>
        </div>
      </div>
      {resource.error && !settings ? (
        <div className="card">
          <ErrorState error={resource.error} retry={resource.reload} />
        </div>
      ) : !settings ? (
        <Spinner label="Loading the settings" />
      ) : (
        <div className="stack">
          <Section title="Addresses">
            <dl className="facts facts-wide">
              <Fact name="Server URL" variable="NANGO_SERVER_URL">
                <CopyBox value={settings.serverUrl} label="server URL" />
              </Fact>
              <Fact name="OAuth callback URL" variable="NANGO_CALLBACK_URL">
                <CopyBox value={settings.callbackUrl} label="callback URL" />
                <span className="hint">Register it as the redirect URI of every OAuth app.</span>
              </Fact>
              <Fact name="Connect UI" variable="NANGO_PUBLIC_CONNECT_URL">
                <CopyBox value={settings.connectUrl} label="Connect UI URL" />
              </Fact>
              <Fact name="Webhook URL" variable="NANGO_WEBHOOK_URL">
                {settings.webhookUrl ? (
                  <>
                    <CopyBox value={settings.webhookUrl} label="webhook URL" />
                    <span className="hint">{settings.webhookSigned ? 'Signed with X-Nango-Hmac-Sha256.' : 'Not signed: set NANGO_WEBHOOK_SECRET or NANGO_SECRET_KEY.'}</span>
                  </>
                ) : (
                  <span className="muted">Not set: no webhook is sent when a connection is created or its refresh fails.</span>
                )}
              </Fact>
            </dl>
          </Section>
          <Section title="Security">
            <dl className="facts facts-wide">
              <Fact name="Secret key" variable="NANGO_SECRET_KEY">
                {settings.secretKeyConfigured ? (
                  <SecretValue load={async () => (await api<{ account: { secret_key: string } }>('GET', '/api/v1/account')).account.secret_key} label="secret key" />
                ) : (
                  <Banner tone="warning" title="Off.">
                    The API is open to anyone who can reach this server.
                  </Banner>
                )}
              </Fact>
              <Fact name="Encryption at rest" variable="NANGO_ENCRYPTION_KEY">
                <OnOff on={settings.encryptionEnabled} onText={settings.encryptionRotating ? 'On (key rotation in progress)' : 'On (AES-256-GCM)'} offText="Off: tokens are stored in clear" />
              </Fact>
              <Fact name="HMAC on connect" variable="NANGO_HMAC_ENABLED">
                <OnOff on={settings.hmac.enabled} onText={`On (${settings.hmac.algorithm ?? 'sha256'})`} />
              </Fact>
              <Fact name="Public connect" variable="NANGO_PUBLIC_CONNECT">
                <OnOff on={!settings.publicConnect || settings.hmac.enabled} onText={settings.publicConnect ? 'Guarded by HMAC' : 'Off: connect sessions only'} offText="On" />
                {settings.publicConnect && !settings.hmac.enabled ? (
                  <span className="hint">Anyone can create a connection, or replace one, by naming its ID. Set NANGO_PUBLIC_CONNECT=false to require connect sessions.</span>
                ) : null}
              </Fact>
              <Fact name="Dashboard sign-in" variable={settings.dashboardSignIn === 'secret_key' ? 'NANGO_SECRET_KEY' : 'NANGO_DASHBOARD_USERNAME'}>
                <OnOff on={settings.dashboardSignIn !== 'none'} onText={settings.dashboardSignIn === 'secret_key' ? 'On (the secret key)' : 'On (HTTP Basic)'} offText="Off: the dashboard is open" />
                {settings.dashboardSignIn === 'secret_key' ? <span className="hint">Any user name, the secret key as the password. Set NANGO_DASHBOARD_USERNAME and NANGO_DASHBOARD_PASSWORD for a login of its own.</span> : null}
              </Fact>
            </dl>
          </Section>
          <Section title="Server">
            <dl className="facts facts-wide">
              <Fact name="Version">{settings.version}</Fact>
              <Fact name="Database">
                {settings.database === 'embedded' ? 'Embedded PostgreSQL' : 'External PostgreSQL'}
                <div role="group" aria-label="Database settings in use">
                  <dl className="env-values">
                    {settings.databaseSettings.map((setting) => (
                      <div key={setting.variable}>
                        <dt className="mono">{setting.variable}</dt>
                        <dd className="mono">{setting.value}</dd>
                      </div>
                    ))}
                  </dl>
                </div>
              </Fact>
              <Fact name="Clock">
                <ClockFact clock={settings.clock} />
              </Fact>
              <Fact name="Provider overlay" variable="NANGO_PROVIDERS_FILE">
                {settings.providersFile ? <code>{settings.providersFile}</code> : <span className="muted">None: the built-in catalog</span>}
              </Fact>
              <Fact name="Audit retention" variable="NANGO_AUDIT_RETENTION_DAYS">
                {settings.auditRetentionDays} days
              </Fact>
              <Fact name="Background token refresh" variable="NANGO_REFRESH_SWEEP_SECONDS">
                {settings.tokenKeeper.sweepSeconds === 0 ? (
                  <>
                    <OnOff on={false} /> <span className="muted">Tokens are refreshed only when they are read.</span>
                  </>
                ) : (
                  <>
                    <OnOff on /> <span className="muted">Every {settings.tokenKeeper.sweepSeconds} s; every token at least every {settings.tokenKeeper.maxAgeHours} h; retries stop after {settings.tokenKeeper.giveUpDays} days of failures; {settings.tokenKeeper.concurrency} at once.</span>
                  </>
                )}
              </Fact>
              <Fact name="Telemetry" variable="TELEMETRY">
                <OnOff on={settings.telemetry} />{' '}
                <span className="muted">
                  {!settings.telemetry
                    ? 'Nothing is sent.'
                    : settings.telemetryEndpointSet
                      ? 'Anonymous counts and versions are sent to NANGO_TELEMETRY_ENDPOINT (never a key, token, URL or name).'
                      : 'Nothing is sent until NANGO_TELEMETRY_ENDPOINT is set.'}
                </span>
              </Fact>
            </dl>
          </Section>
        </div>
      )}
    </>
  );
}

/** Whether this server's clock agrees with PostgreSQL's and the providers' (checked at start, every 10 minutes, and on every token answer). */
function ClockFact({ clock }: { clock: Settings['clock'] }) {
  if (!clock || (!clock.database && !clock.provider)) return <span className="muted">Not checked yet.</span>;
  const readings = [clock.database, clock.provider].filter((reading): reading is ClockReading => reading !== null);
  const offPeers = readings.filter((reading) => Math.abs(reading.offsetSeconds) > clock.limitSeconds);
  if (clock.drifting && offPeers.length > 0) {
    return (
      <Banner tone="warning" title={`Off by ${Math.max(...offPeers.map((reading) => Math.abs(reading.offsetSeconds)))} s.`} role="status">
        {offPeers.map((reading) => `This server's clock is ${describeOffset(reading)}. `).join('')}
        OAuth 1.0a signatures, GitHub App tokens and token expiry times need it within {clock.limitSeconds} s: run an NTP client (chrony, or systemd-timesyncd) on the server's machine.
      </Banner>
    );
  }
  return (
    <>
      <OnOff on onText="In step" />{' '}
      <span className="muted">{readings.map((reading) => `within ${Math.abs(reading.offsetSeconds)} s of ${reading.peer === 'PostgreSQL' ? "PostgreSQL's" : `${reading.peer}'s`} clock`).join('; ')}.</span>
    </>
  );
}

function describeOffset(reading: ClockReading): string {
  const whose = reading.peer === 'PostgreSQL' ? "PostgreSQL's" : `the clock of ${reading.peer} (its last token answer)`;
  return `${Math.abs(reading.offsetSeconds)} s ${reading.offsetSeconds > 0 ? 'behind' : 'ahead of'} ${whose}`;
}

function Fact({ name, variable, children }: { name: string; variable?: string; children: ReactNode }) {
  return (
    <>
      <dt>
        {name}
        {variable ? <div className="small mono muted">{variable}</div> : null}
      </dt>
      <dd>{children}</dd>
    </>
  );
}
