import { randomUUID } from 'node:crypto';
import { Nango, type NangoAuthWebhookBody } from '@nangohq/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from './support/authorization-server.js';
import { createTestDatabase, deleteIntegrations, type TestDatabase } from './support/database.js';
import { followUntil } from './support/redirect-walker.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { catalogWith, oidcTestProvider } from './support/test-providers.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './support/webhook-receiver.js';

/**
 * Auth webhooks from a real server process (`src/server.ts`, configured only through its environment) to the
 * operator's app on 127.0.0.1: the body modern Nango sends, signed so that @nangohq/node 0.71.10's own
 * `verifyIncomingWebhookRequest` accepts it, for a connection created, re-authorised, and failing to refresh.
 */
const SECRET_KEY = randomUUID();
// Never reached: the redirect walker stops when the provider sends the browser here, and the test calls the server.
const CALLBACK = 'http://127.0.0.1:9/oauth/callback';

let database: TestDatabase;
let provider: AuthorizationServer;
let operatorApp: WebhookReceiver;
let connectionsOwnApp: WebhookReceiver;
let server: ServerProcess;
let nango: Nango;

beforeAll(async () => {
  database = await createTestDatabase();
  provider = await startAuthorizationServer({ redirectUris: [CALLBACK] });
  operatorApp = await startWebhookReceiver('/webhooks-from-nango');
  connectionsOwnApp = await startWebhookReceiver('/tenant-42/webhooks');
  const { file } = catalogWith({ 'oidc-test': oidcTestProvider(provider.issuer) });
  server = await startServerProcess({
    NANGO_DATABASE_URL: database.url,
    NANGO_SECRET_KEY: SECRET_KEY,
    NANGO_PROVIDERS_FILE: file,
    NANGO_CALLBACK_URL: CALLBACK,
    NANGO_WEBHOOK_URL: operatorApp.url,
  });
  nango = new Nango({ host: server.baseUrl, secretKey: SECRET_KEY });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all([operatorApp?.close(), connectionsOwnApp?.close(), provider?.close()]);
  await database?.drop();
});

beforeEach(async () => {
  await deleteIntegrations(database);
  operatorApp.received.length = 0;
  connectionsOwnApp.received.length = 0;
  await nango.createIntegration({
    provider: 'oidc-test',
    unique_key: 'oidc',
    credentials: { type: 'OAUTH2', client_id: provider.clientId, client_secret: provider.clientSecret, scopes: 'openid,offline_access,read' },
  });
});

/** Runs the popup flow like a browser: our server → the provider's screens → our callback. */
async function authorise(query: string): Promise<void> {
  const start = await fetch(`${server.baseUrl}/oauth/connect/oidc?${query}`, { redirect: 'manual' });
  expect(start.status, await start.clone().text()).toBe(302);
  const walked = await followUntil(String(start.headers.get('location')), CALLBACK);
  expect(walked.url.startsWith(CALLBACK), walked.lastBody).toBe(true);
  const callback = await fetch(`${server.baseUrl}${walked.url.slice(walked.url.indexOf('/oauth/callback'))}`);
  expect(callback.status, await callback.clone().text()).toBe(200);
}

/** Waits for the next webhook a receiver gets, checks it with the real client's verifier and returns its body. */
async function nextWebhook(receiver: WebhookReceiver, count = 1): Promise<{ body: NangoAuthWebhookBody; request: ReceivedWebhook }> {
  await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(count);
  const request = receiver.received[count - 1];
  if (!request) throw new Error('no webhook received');
  expect(request.method).toBe('POST');
  expect(request.headers['content-type']).toBe('application/json');
  expect(nango.verifyIncomingWebhookRequest(request.rawBody, request.headers)).toBe(true);
  return { body: JSON.parse(request.rawBody) as NangoAuthWebhookBody, request };
}

/** The id of the one connection an end user has (connect sessions let the server choose it). */
async function connectionOf(endUserId: string): Promise<string> {
  const { connections } = await nango.listConnections(undefined, undefined, { endUserId });
  expect(connections).toHaveLength(1);
  return connections[0]?.connection_id ?? '';
}

describe('auth webhooks from a running server to NANGO_WEBHOOK_URL', () => {
  it('a connection created through a connect session sends a signed creation webhook with its end user', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-1', email: 'ada@example.com' }, organization: { id: 'org-7' }, allowed_integrations: ['oidc'] });
    await authorise(`connect_session_token=${data.token}`);

    const { body } = await nextWebhook(operatorApp);
    expect(body).toStrictEqual({
      from: 'nango',
      type: 'auth',
      operation: 'creation',
      success: true,
      connectionId: await connectionOf('eu-1'),
      providerConfigKey: 'oidc',
      provider: 'oidc-test',
      authMode: 'OAUTH2',
      environment: 'prod',
      endUser: { endUserId: 'eu-1', organizationId: 'org-7', endUserEmail: 'ada@example.com', tags: {} },
      tags: {},
    });
  });

  it('re-authorising the same connection through a reconnect session sends operation "override"', async () => {
    const { data: first } = await nango.createConnectSession({ end_user: { id: 'eu-2' }, allowed_integrations: ['oidc'] });
    await authorise(`connect_session_token=${first.token}`);
    const connectionId = await connectionOf('eu-2');
    await nextWebhook(operatorApp);

    const { data: again } = await nango.createReconnectSession({ connection_id: connectionId, integration_id: 'oidc' });
    await authorise(`connect_session_token=${again.token}`);

    const { body } = await nextWebhook(operatorApp, 2);
    expect(body).toMatchObject({ type: 'auth', operation: 'override', success: true, connectionId, providerConfigKey: 'oidc', authMode: 'OAUTH2' });
    expect(operatorApp.received).toHaveLength(2);
  });

  it('a refresh the provider refuses sends a refresh webhook with success false and the error', async () => {
    await authorise('connection_id=user-refused');
    await nextWebhook(operatorApp);
    // The operator rotated the client secret at the provider but not here: the provider refuses the refresh.
    await nango.updateIntegration({ uniqueKey: 'oidc' }, { credentials: { type: 'OAUTH2', client_id: provider.clientId, client_secret: 'rotated-away' } });

    await expect(nango.getConnection('oidc', 'user-refused', true)).rejects.toMatchObject({ response: { status: 502 } });

    const { body } = await nextWebhook(operatorApp, 2);
    expect(body).toStrictEqual({
      from: 'nango',
      type: 'auth',
      operation: 'refresh',
      success: false,
      connectionId: 'user-refused',
      providerConfigKey: 'oidc',
      provider: 'oidc-test',
      authMode: 'OAUTH2',
      environment: 'prod',
      tags: {},
      error: { type: 'refresh_token_external_error', description: expect.stringContaining('invalid_client') },
    });
  });

  it('a successful refresh sends nothing, as with Nango', async () => {
    await authorise('connection_id=user-fresh');
    await nextWebhook(operatorApp);

    await nango.getConnection('oidc', 'user-fresh', true);
    // A webhook is sent right after the refresh commits; half a second is far longer than it takes on loopback.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(operatorApp.received).toHaveLength(1);
  });
});

describe("a connection's own webhook URL (webhook_url_override)", () => {
  it("set on the connect session, receives the connection's creation webhook instead of NANGO_WEBHOOK_URL", async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-3' }, allowed_integrations: ['oidc'], webhook_url_override: connectionsOwnApp.url });
    await authorise(`connect_session_token=${data.token}`);

    const { body } = await nextWebhook(connectionsOwnApp);
    expect(body).toMatchObject({ operation: 'creation', success: true, connectionId: await connectionOf('eu-3') });
    expect(operatorApp.received).toHaveLength(0);
  });

  it('set on the connect session, is stored on the connection and shown by getConnection', async () => {
    const { data } = await nango.createConnectSession({ end_user: { id: 'eu-4' }, allowed_integrations: ['oidc'], webhook_url_override: connectionsOwnApp.url });
    await authorise(`connect_session_token=${data.token}`);

    const connection = await nango.getConnection('oidc', await connectionOf('eu-4'));
    expect(connection.webhook_url_override).toBe(connectionsOwnApp.url);
  });

  it("set with patchConnection, receives the connection's refresh failure instead of NANGO_WEBHOOK_URL", async () => {
    await authorise('connection_id=user-patched');
    await nextWebhook(operatorApp);
    await nango.patchConnection({ connectionId: 'user-patched', provider_config_key: 'oidc' }, { webhook_url_override: connectionsOwnApp.url });
    await nango.updateIntegration({ uniqueKey: 'oidc' }, { credentials: { type: 'OAUTH2', client_id: provider.clientId, client_secret: 'rotated-away' } });

    await expect(nango.getConnection('oidc', 'user-patched', true)).rejects.toMatchObject({ response: { status: 502 } });

    const { body } = await nextWebhook(connectionsOwnApp);
    expect(body).toMatchObject({ operation: 'refresh', success: false, connectionId: 'user-patched' });
    expect(operatorApp.received).toHaveLength(1);
  });

  it('kept by a re-authorisation that names no URL of its own', async () => {
    await authorise('connection_id=user-kept');
    await nextWebhook(operatorApp);
    await nango.patchConnection({ connectionId: 'user-kept', provider_config_key: 'oidc' }, { webhook_url_override: connectionsOwnApp.url });

    await authorise('connection_id=user-kept');

    const { body } = await nextWebhook(connectionsOwnApp);
    expect(body).toMatchObject({ operation: 'override', connectionId: 'user-kept' });
    expect(operatorApp.received).toHaveLength(1);
  });
});
