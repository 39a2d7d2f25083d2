import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Knex } from 'knex';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logger.js';

/** What the frontend SDKs wait for on their WebSocket (both generations read these fields). */
export type FlowMessage =
  | { message_type: 'success'; provider_config_key: string; connection_id: string; is_pending: boolean }
  | { message_type: 'error'; provider_config_key: string; connection_id: string; error_type: string; error_desc: string };

const CHANNEL = 'custody_oauth_results';
const PING_INTERVAL_MS = 25_000;

/**
 * Tells the page that opened a popup how its OAuth flow ended. The page holds a WebSocket to one server
 * process; the provider may send the callback to another. A process that does not hold the socket
 * publishes the result with PostgreSQL NOTIFY, and the process that holds it delivers it.
 */
export class ResultDelivery {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private listener: pg.Client | undefined;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly knex: Knex,
    private readonly connection: pg.ClientConfig | undefined,
    private readonly log: Logger,
  ) {}

  /** Accepts WebSocket upgrades on any path of the server, as the seed server did. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.wss.handleUpgrade(request, socket, head, (ws) => this.register(ws));
    });
    this.pingTimer = setInterval(() => {
      for (const ws of this.sockets.values()) ws.ping();
    }, PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  /**
   * Starts listening in the background: a database that is slow to answer at start (a container network
   * still settling) must not hold up or fail the start. It retries every second; a result published for this
   * process before its listener is up cannot reach it (its popup then shows the result page itself).
   */
  start(): void {
    if (!this.connection) return;
    this.listen().catch((error: unknown) => {
      this.log.warn(`The OAuth result listener could not connect yet (${(error as Error).message}); retrying.`);
      this.scheduleReconnect();
    });
  }

  async deliver(wsClientId: string, message: FlowMessage): Promise<void> {
    if (this.sendLocally(wsClientId, message)) return;
    await this.knex.raw('SELECT pg_notify(?, ?)', [CHANNEL, JSON.stringify({ wsClientId, message })]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    this.wss.close();
    await this.listener?.end().catch(() => undefined);
  }

  private register(ws: WebSocket): void {
    const id = randomUUID();
    this.sockets.set(id, ws);
    ws.on('close', () => this.sockets.delete(id));
    ws.on('error', () => this.sockets.delete(id));
    ws.send(JSON.stringify({ message_type: 'connection_ack', ws_client_id: id }));
  }

  private sendLocally(wsClientId: string, message: FlowMessage): boolean {
    const ws = this.sockets.get(wsClientId);
    if (!ws) return false;
    ws.send(JSON.stringify(message), () => ws.close());
    this.sockets.delete(wsClientId);
    return true;
  }

  /** A dedicated LISTEN connection; if it drops (database restart), it is opened again. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 10_000 });
    client.on('notification', (notification) => {
      if (!notification.payload) return;
      try {
        const { wsClientId, message } = JSON.parse(notification.payload) as { wsClientId: string; message: FlowMessage };
        this.sendLocally(wsClientId, message);
      } catch {
        this.log.warn('Ignored a malformed OAuth result notification.');
      }
    });
    client.on('error', (error) => {
      this.log.warn(`The OAuth result listener lost its database connection (${error.message}); reconnecting.`);
      void client.end().catch(() => undefined);
      this.scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    setTimeout(() => {
      if (this.closed) return;
      this.listen().catch(() => this.scheduleReconnect());
    }, 1_000).unref();
  }
}
