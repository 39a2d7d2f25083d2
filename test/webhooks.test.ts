import { Writable } from 'node:stream';
import { Nango } from '@nangohq/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { authWebhookSignals } from '../src/webhooks/auth-webhook-signals.js';
import { WebhookSender, type AuthWebhookEvent, type WebhookSenderOptions } from '../src/webhooks/webhook-sender.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'the-key';

/** A pino logger writing into memory: every line it wrote, parsed. */
function captureLogs(level: 'warn' | 'trace' = 'warn'): { logger: ReturnType<typeof createLogger>; lines: () => { level: number; msg: string }[]; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    logger: createLogger(level, stream),
    lines: () => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { level: number; msg: string }),
    text: () => text,
  };
}

const WARN = 40;

const creation: AuthWebhookEvent = {
  operation: 'creation',
  success: true,
  connectionId: 'user-42',
  providerConfigKey: 'github-prod',
  provider: 'github',
  authMode: 'OAUTH2',
  endUser: { endUserId: 'end-user-1', organizationId: 'org-7' },
  tags: { plan: 'pro' },
};

describe('auth webhooks to the operator app', () => {
  let receiver: WebhookReceiver;
  let senders: WebhookSender[];

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
    senders = [];
  });

  afterEach(async () => {
    await Promise.all(senders.map((sender) => sender.close()));
    await receiver.close();
  });

  function sender(options: Partial<WebhookSenderOptions> & { logger: WebhookSenderOptions['logger'] }): WebhookSender {
    const created = new WebhookSender({ url: receiver.url, signingKey: SECRET, initialDelayMs: 20, timeoutMs: 5_000, maxAttempts: 5, ...options });
    senders.push(created);
    return created;
  }

  it('POSTs the event as a modern Nango auth webhook body, as JSON with a user agent', async () => {
    const webhooks = sender({ logger: captureLogs().logger });
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/hooks/nango');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['user-agent']).toMatch(/^custody-server\//);
    expect(JSON.parse(request?.rawBody ?? '')).toStrictEqual({
      from: 'nango',
      type: 'auth',
      operation: 'creation',
      success: true,
      connectionId: 'user-42',
      providerConfigKey: 'github-prod',
      provider: 'github',
      authMode: 'OAUTH2',
      environment: 'prod',
      endUser: { endUserId: 'end-user-1', organizationId: 'org-7', tags: {} },
      tags: { plan: 'pro' },
    });
  });

  it('is accepted by @nangohq/node verifyIncomingWebhookRequest with the secret key, and a tampered body is refused', async () => {
    const webhooks = sender({ logger: captureLogs().logger });
    webhooks.send(creation);
    await webhooks.drain();

    const [request] = receiver.received;
    if (!request) throw new Error('nothing received');
    const nango = new Nango({ host: 'http://127.0.0.1:1', secretKey: SECRET });
    expect(nango.verifyIncomingWebhookRequest(request.rawBody, request.headers)).toBe(true);
    expect(nango.verifyIncomingWebhookRequest(request.rawBody.replace('user-42', 'user-43'), request.headers)).toBe(false);
    expect(new Nango({ host: 'http://127.0.0.1:1', secretKey: 'another-key' }).verifyIncomingWebhookRequest(request.rawBody, request.headers)).toBe(false);
  });

  it('also carries the legacy X-Nango-Signature that older receivers check (sha256 of key + body)', async () => {
    const webhooks = sender({ logger: captureLogs().logger });
    webhooks.send(creation);
    await webhooks.drain();

    const [request] = receiver.received;
    if (!request) throw new Error('nothing received');
    const nango = new Nango({ host: 'http://127.0.0.1:1', secretKey: SECRET });
    // The deprecated verifier re-serialises the parsed body: the keys are sent sorted, so the bytes match.
    expect(nango.verifyWebhookSignature(String(request.headers['x-nango-signature']), JSON.parse(request.rawBody))).toBe(true);
  });

  it('returns from send at once while the receiver hangs', async () => {
    receiver.answer('hang');
    const webhooks = sender({ logger: captureLogs().logger, maxAttempts: 1, timeoutMs: 200 });
    const started = performance.now();
    webhooks.send(creation);
    expect(performance.now() - started).toBeLessThan(20);

    await expect.poll(() => receiver.received.length).toBe(1);
    await webhooks.drain();
  });

  it('retries a receiver that answers 503 twice: three attempts, the last delivered, no warning', async () => {
    receiver.answer(503, 503, 200);
    const logs = captureLogs();
    const webhooks = sender({ logger: logs.logger });
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((request) => request.rawBody)).size).toBe(1);
    expect(logs.lines().filter((line) => line.level >= WARN)).toHaveLength(0);
  });

  it('retries a 429', async () => {
    receiver.answer(429, 200);
    const webhooks = sender({ logger: captureLogs().logger });
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(2);
  });

  it('does not retry a 400, and logs one warning', async () => {
    receiver.answer(400);
    const logs = captureLogs();
    const webhooks = sender({ logger: logs.logger });
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(1);
    const warnings = logs.lines().filter((line) => line.level >= WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('400');
  });

  it('gives up on a receiver that never answers after maxAttempts, with one warning', async () => {
    receiver.answer('hang', 'hang', 'hang', 'hang');
    const logs = captureLogs();
    // The one spec that needs attempts to time out: elsewhere a generous timeout keeps a loaded machine's slow answer from counting as lost and being sent again.
    const webhooks = sender({ logger: logs.logger, maxAttempts: 3, timeoutMs: 200 });
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(3);
    const warnings = logs.lines().filter((line) => line.level >= WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/user-42.*not delivered after 3 attempts: no answer within 200 ms/);
  });

  it('sends nothing without a URL', async () => {
    const webhooks = sender({ logger: captureLogs().logger, url: undefined });
    expect(webhooks.enabled).toBe(false);
    webhooks.send(creation);
    await webhooks.drain();
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(receiver.received).toHaveLength(0);
  });

  it('never writes the signing key or the body to the logs', async () => {
    receiver.answer(503, 503, 503);
    const logs = captureLogs('trace');
    const webhooks = sender({ logger: logs.logger, url: `${receiver.url}?token=receiver-token`, maxAttempts: 3 });
    webhooks.send({ ...creation, success: false, error: { type: 'refresh_token_external_error', description: 'invalid_grant from provider' } });
    await webhooks.drain();

    expect(receiver.received).toHaveLength(3);
    expect(logs.text()).toContain('not delivered');
    expect(logs.text()).not.toContain(SECRET);
    expect(logs.text()).not.toContain('receiver-token');
    expect(logs.text()).not.toContain('invalid_grant');
    expect(logs.text()).not.toContain('"plan"');
  });

  it('without a signing key sends unsigned and says so once, at construction', async () => {
    const logs = captureLogs();
    const webhooks = sender({ logger: logs.logger, signingKey: undefined });
    expect(logs.lines().filter((line) => line.level >= WARN).map((line) => line.msg)).toEqual([expect.stringContaining('UNSIGNED')]);
    webhooks.send(creation);
    webhooks.send(creation);
    await webhooks.drain();

    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[0]?.headers['x-nango-hmac-sha256']).toBeUndefined();
    expect(receiver.received[0]?.headers['x-nango-signature']).toBeUndefined();
    expect(logs.lines().filter((line) => line.level >= WARN)).toHaveLength(1);
  });

  it('stops retrying once closed', async () => {
    receiver.answer(503, 503, 503, 503, 503);
    const webhooks = sender({ logger: captureLogs().logger, initialDelayMs: 5_000 });
    webhooks.send(creation);
    await expect.poll(() => receiver.received.length).toBe(1);
    const started = performance.now();
    await webhooks.close();

    expect(performance.now() - started).toBeLessThan(1_000);
    webhooks.send(creation);
    await webhooks.drain();
    expect(receiver.received).toHaveLength(1);
  });

  it('turns a failed refresh announced by the services into a refresh webhook with success false and the error', async () => {
    const webhooks = sender({ logger: captureLogs().logger });
    const listener = authWebhookSignals(webhooks);
    const outcome = {
      operation: 'refresh' as const,
      connectionId: 'user-42',
      providerConfigKey: 'github-prod',
      provider: 'github',
      authMode: 'OAUTH2',
      endUser: { id: 'end-user-1', email: 'a@example.com', tags: { team: 'x' }, organization: { id: 'org-7' } },
      tags: {},
    };
    listener.authSucceeded?.(outcome);
    listener.authFailed?.(outcome, { type: 'refresh_token_external_error', description: 'The provider refused the refresh token.' });
    await webhooks.drain();

    expect(receiver.received).toHaveLength(1);
    expect(JSON.parse(receiver.received[0]?.rawBody ?? '')).toStrictEqual({
      from: 'nango',
      type: 'auth',
      operation: 'refresh',
      success: false,
      connectionId: 'user-42',
      providerConfigKey: 'github-prod',
      provider: 'github',
      authMode: 'OAUTH2',
      environment: 'prod',
      endUser: { endUserId: 'end-user-1', organizationId: 'org-7', endUserEmail: 'a@example.com', tags: { team: 'x' } },
      tags: {},
      error: { type: 'refresh_token_external_error', description: 'The provider refused the refresh token.' },
    });
  });

  describe("a connection's own webhook URL (webhook_url_override)", () => {
    let own: WebhookReceiver;

    beforeEach(async () => {
      own = await startWebhookReceiver('/own');
    });

    afterEach(async () => {
      await own.close();
    });

    it('receives the webhook instead of NANGO_WEBHOOK_URL, signed the same way', async () => {
      const webhooks = sender({ logger: captureLogs().logger });
      authWebhookSignals(webhooks, async () => own.url).authSucceeded?.({ ...outcomeOf(creation), operation: 'creation' });
      await webhooks.drain();

      expect(receiver.received).toHaveLength(0);
      expect(own.received).toHaveLength(1);
      const [request] = own.received;
      expect(new Nango({ host: 'http://127.0.0.1:1', secretKey: SECRET }).verifyIncomingWebhookRequest(request?.rawBody ?? '', request?.headers ?? {})).toBe(true);
    });

    it('receives the webhook when no NANGO_WEBHOOK_URL is set', async () => {
      const webhooks = sender({ logger: captureLogs().logger, url: undefined });
      webhooks.send(creation, Promise.resolve(own.url));
      await webhooks.drain();

      expect(own.received).toHaveLength(1);
    });

    it('leaves the webhook to NANGO_WEBHOOK_URL when the connection has none', async () => {
      const webhooks = sender({ logger: captureLogs().logger });
      webhooks.send(creation, Promise.resolve(null));
      await webhooks.drain();

      expect(receiver.received).toHaveLength(1);
      expect(own.received).toHaveLength(0);
    });

    it('falls back to NANGO_WEBHOOK_URL with one warning when the lookup fails', async () => {
      const logs = captureLogs();
      const webhooks = sender({ logger: logs.logger });
      webhooks.send(creation, Promise.reject(new Error('database down')));
      await webhooks.drain();

      expect(receiver.received).toHaveLength(1);
      expect(logs.lines().filter((line) => line.level >= WARN).map((line) => line.msg)).toEqual([expect.stringContaining('could not be read')]);
    });

    it('drops a stored URL that is not http(s), with a warning, rather than posting elsewhere', async () => {
      const logs = captureLogs();
      const webhooks = sender({ logger: logs.logger });
      webhooks.send(creation, Promise.resolve('file:///etc/passwd'));
      await webhooks.drain();

      expect(receiver.received).toHaveLength(0);
      expect(logs.lines().filter((line) => line.level >= WARN).map((line) => line.msg)).toEqual([expect.stringContaining('webhook_url_override')]);
    });
  });
});

/** The services' announcement that `toEvent` turns into `event`. */
function outcomeOf(event: AuthWebhookEvent) {
  return {
    operation: event.operation,
    connectionId: event.connectionId,
    providerConfigKey: event.providerConfigKey,
    provider: event.provider,
    authMode: event.authMode,
    endUser: null,
    tags: event.tags ?? null,
  };
}
