import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startRotatingTokenEndpoint, type RotatingTokenEndpoint } from './support/rotating-token-endpoint.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { catalogWith } from './support/test-providers.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

/**
 * Two server processes sweeping every second against one database and a provider on 127.0.0.1 that rotates the
 * refresh token on every refresh and refuses a spent one (test/support/rotating-token-endpoint.ts). Nobody reads
 * a token: the keepers alone keep them fresh, each connection refreshed exactly once, and the operator's app
 * hears of a failing provider and of its recovery through the auth webhook.
 */
const SECRET = 'keeper-processes-secret';
const KEY = 'rotating';
const DUE_SOON = 20;
const headers = { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' };

interface Subject {
  connectionId: string;
  grant: string;
}

interface AuthWebhook {
  operation: string;
  success: boolean;
  connectionId: string;
}

let database: TestDatabase;
let endpoint: RotatingTokenEndpoint;
let receiver: WebhookReceiver;
const servers: ServerProcess[] = [];

async function importConnection(server: ServerProcess, subject: Subject, expiresAt: Date): Promise<void> {
  const response = await fetch(`${server.baseUrl}/connection`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      connection_id: subject.connectionId,
      provider_config_key: KEY,
      type: 'OAUTH2',
      access_token: endpoint.currentAccessToken(subject.grant),
      refresh_token: endpoint.currentRefreshToken(subject.grant),
      expires_at: expiresAt.toISOString(),
    }),
  });
  expect(response.status).toBe(201);
}

function webhooksFor(connectionId: string): AuthWebhook[] {
  return receiver.received.map((hook) => JSON.parse(hook.rawBody) as AuthWebhook).filter((hook) => hook.connectionId === connectionId && hook.operation === 'refresh');
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await sleep(100);
  }
}

async function row(connectionId: string) {
  return (await database.knex('_nango_connections').where({ provider_config_key: KEY, connection_id: connectionId }).first()) as {
    credentials: { refresh_token?: string };
    refresh_attempts: number;
    refresh_failing_since: Date | null;
    refresh_due_at: Date | null;
    last_refresh_error: string | null;
  };
}

beforeAll(async () => {
  database = await createTestDatabase();
  endpoint = await startRotatingTokenEndpoint();
  receiver = await startWebhookReceiver();
  const { file } = catalogWith({
    'rotating-test': { display_name: 'Local rotating token endpoint', categories: ['other'], auth_mode: 'OAUTH2', authorization_url: endpoint.authorizationUrl, token_url: endpoint.tokenUrl, docs: 'https://example.com/docs' },
  });
  const env = { NANGO_DATABASE_URL: database.url, NANGO_SECRET_KEY: SECRET, NANGO_PROVIDERS_FILE: file, TELEMETRY: 'false', NANGO_WEBHOOK_URL: receiver.url, NANGO_REFRESH_SWEEP_SECONDS: '1' };
  // Started one after the other: the second would otherwise wait for the first's migrations anyway.
  servers.push(await startServerProcess(env));
  servers.push(await startServerProcess(env));
  const [first] = servers;
  if (!first) throw new Error('No server started.');
  const config = await fetch(`${first.baseUrl}/config`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ provider_config_key: KEY, provider: 'rotating-test', oauth_client_id: endpoint.clientId, oauth_client_secret: endpoint.clientSecret, oauth_scopes: 'read' }),
  });
  expect(config.status).toBe(200);
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGTERM')));
  await receiver?.close();
  await endpoint?.close();
  await database?.drop();
});

describe('two processes keeping tokens fresh with nobody reading them', () => {
  const subjects: Subject[] = [];

  it('refreshes every connection due soon exactly once, and never presents a spent refresh token', async () => {
    const [first, second] = servers;
    if (!first || !second) throw new Error('Two servers are needed.');
    for (let index = 0; index < DUE_SOON; index++) {
      const subject = { connectionId: `due-soon-${index}`, grant: endpoint.grant() };
      subjects.push(subject);
      // Half through each process; expiring in five minutes, inside the fifteen-minute refresh margin.
      await importConnection(index % 2 === 0 ? first : second, subject, new Date(Date.now() + 5 * 60_000));
    }
    await waitFor('every connection to be refreshed', () => subjects.every(({ grant }) => endpoint.rotations(grant) >= 1));
    // Three more sweeps of each process: nothing is refreshed a second time.
    await sleep(3_500);
    expect(subjects.map(({ grant }) => endpoint.rotations(grant))).toEqual(subjects.map(() => 1));
    expect(endpoint.staleUses()).toBe(0);
    for (const { connectionId, grant } of subjects) expect((await row(connectionId)).credentials.refresh_token).toBe(endpoint.currentRefreshToken(grant));
  }, 60_000);

  it('counts the refreshes of both processes\' keepers in /metrics, one per connection between them', async () => {
    const refreshed = await Promise.all(
      servers.map(async (server) => {
        const text = await (await fetch(`${server.baseUrl}/metrics`, { headers })).text();
        return Number(/^custody_keeper_refreshes_total\{outcome="refreshed"\} (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );
    expect(refreshed.reduce((sum, count) => sum + count, 0)).toBe(DUE_SOON);
  });

  it('records the keeper as the principal of its refreshes in the audit trail', async () => {
    const entries = (await database.knex('_custody_audit_log').where({ action: 'connection.refresh', provider_config_key: KEY }).select('principal', 'connection_id')) as { principal: string; connection_id: string }[];
    expect(entries.filter((entry) => entry.connection_id.startsWith('due-soon-')).length).toBe(DUE_SOON);
    expect(new Set(entries.map((entry) => entry.principal))).toEqual(new Set(['keeper']));
  });

  it('sends no webhook for a refresh that simply succeeds', () => {
    expect(subjects.flatMap(({ connectionId }) => webhooksFor(connectionId))).toEqual([]);
  });

  it('records a failing provider, tells the app with success: false, backs off, and says success: true once it recovers', async () => {
    const [first] = servers;
    if (!first) throw new Error('No server.');
    const subject = { connectionId: 'outage-victim', grant: endpoint.grant() };
    endpoint.outage = true;
    await importConnection(first, subject, new Date(Date.now() + 5 * 60_000));
    await waitFor('the failure webhook', () => webhooksFor(subject.connectionId).some((hook) => !hook.success));
    const failing = await row(subject.connectionId);
    expect(failing.refresh_attempts).toBeGreaterThanOrEqual(1);
    expect(failing.refresh_failing_since).not.toBeNull();
    expect(failing.last_refresh_error).toMatch(/temporarily_unavailable/);
    // The stored credentials stay as they were.
    expect(failing.credentials.refresh_token).toBe(endpoint.currentRefreshToken(subject.grant));

    // Four seconds of one-second sweeps by two processes: with backoff (1 s, 2 s, 4 s…) only a few retries.
    const refusedBefore = endpoint.refusedDuringOutage();
    await sleep(4_000);
    expect(endpoint.refusedDuringOutage() - refusedBefore).toBeLessThanOrEqual(3);
    expect((await row(subject.connectionId)).refresh_due_at?.getTime()).toBeGreaterThan(Date.now() - 1_000);

    endpoint.outage = false;
    await waitFor('the recovery webhook', () => webhooksFor(subject.connectionId).some((hook) => hook.success), 30_000);
    const healed = await row(subject.connectionId);
    expect(healed.refresh_attempts).toBe(0);
    expect(healed.refresh_failing_since).toBeNull();
    expect(endpoint.rotations(subject.grant)).toBe(1);
    expect(endpoint.staleUses()).toBe(0);
    // One recovery webhook, however many processes swept.
    await sleep(2_000);
    expect(webhooksFor(subject.connectionId).filter((hook) => hook.success)).toHaveLength(1);
  }, 60_000);
});
