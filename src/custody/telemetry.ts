import os from 'node:os';
import type { Logger } from '../logger.js';
import type { ServerSignals } from '../services/server-signals.js';

/**
 * Anonymous usage telemetry, opt-out with TELEMETRY=false. Exactly three events, each carrying only counts
 * and versions (never an id, a key, a token, a URL, a provider's name or a host name):
 *   server_started        {version, node, os, database: embedded|external, encryption: bool, integrations, connections}
 *   integration_created   {version, integrations}
 *   connection_created    {version, auth_mode, connections}
 * Sent as JSON `{event, properties, sent_at}` to NANGO_TELEMETRY_ENDPOINT; without an endpoint nothing is sent.
 */
export type TelemetryEvent =
  | { event: 'server_started'; properties: { database: 'embedded' | 'external'; encryption: boolean; integrations: number; connections: number } }
  | { event: 'integration_created'; properties: { integrations: number } }
  | { event: 'connection_created'; properties: { auth_mode: string; connections: number } };

export interface TelemetryOptions {
  enabled: boolean;
  endpoint: string | undefined;
  version: string;
  logger: Logger;
  /** Current counts, read when an event is sent. */
  counts: () => Promise<{ integrations: number; connections: number }>;
}

export class Telemetry implements Partial<ServerSignals> {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: TelemetryOptions) {}

  get active(): boolean {
    return this.options.enabled && this.options.endpoint !== undefined;
  }

  serverStarted(database: 'embedded' | 'external', encryption: boolean): void {
    this.sendWithCounts((counts) => ({ event: 'server_started', properties: { database, encryption, ...counts } }));
  }

  integrationCreated(): void {
    this.sendWithCounts((counts) => ({ event: 'integration_created', properties: { integrations: counts.integrations } }));
  }

  authSucceeded(outcome: Parameters<ServerSignals['authSucceeded']>[0]): void {
    if (outcome.operation !== 'creation') return;
    this.sendWithCounts((counts) => ({ event: 'connection_created', properties: { auth_mode: outcome.authMode, connections: counts.connections } }));
  }

  /** Waits for events being sent (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private sendWithCounts(build: (counts: { integrations: number; connections: number }) => TelemetryEvent): void {
    if (!this.active) return;
    const sending = this.options
      .counts()
      .then((counts) => this.post(build(counts)))
      .catch(() => this.options.logger.debug('A telemetry event could not be sent; it is dropped.'))
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  private async post(event: TelemetryEvent): Promise<void> {
    const body = {
      event: event.event,
      properties: { ...event.properties, version: this.options.version, node: process.versions.node, os: os.platform() },
      sent_at: new Date().toISOString(),
    };
    await fetch(this.options.endpoint ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': `custody-server/${this.options.version}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
  }
}
