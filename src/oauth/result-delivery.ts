import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Knex } from 'knex';
import { WebSocketServer, type WebSocket } from 'ws';
import type { NotificationListener } from '../db/notification-listener.js';
import type { Logger } from '../logger.js';
import { POLICY_VIOLATION, type SocketAdmission } from './socket-admission.js';

/** What the frontend SDKs wait for on their WebSocket (both generations read these fields). */
export type FlowMessage =
  | { message_type: 'success'; provider_config_key: string; connection_id: string; is_pending: boolean }
  | { message_type: 'error'; provider_config_key: string; connection_id: string; error_type: string; error_desc: string };

const CHANNEL = 'custody_oauth_results';
const PING_INTERVAL_MS = 25_000;
/** RFC 6455's registered code for "the server is restarting; try again later". Neither SDK generation acts on a close code. */
export const SERVICE_RESTART = 1012;
const RESTART_REASON = 'The server is restarting. Finish signing in: the popup page shows the result.';
/** How long a closing handshake may take before the socket is cut. */
const CLOSE_HANDSHAKE_MS = 1_000;

/**
 * Tells the page that opened a popup how its OAuth flow ended. The page holds a WebSocket to one server
 * process; the provider may send the callback to another. A process that does not hold the socket
 * publishes the result with PostgreSQL NOTIFY, and the process that holds it delivers it.
 */
export class ResultDelivery {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private pingTimer: NodeJS.Timeout | undefined;

  /**
   * A result published for this process while its listener is not up (at start, or while the database is
   * away) cannot reach it; its popup then shows the result page itself.
   */
  constructor(
    private readonly knex: Knex,
    notifications: NotificationListener,
    private readonly log: Logger,
    private readonly admission: SocketAdmission,
  ) {
    notifications.on(CHANNEL, (payload) => this.deliverNotified(payload));
  }

  /** Accepts WebSocket upgrades on any path of the server, as the seed server did, from the origins and within the per-address limit that SocketAdmission allows. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = this.admission.originRefusal(request);
      if (refusal !== undefined) return refuseHandshake(socket, refusal);
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        const address = this.admission.clientAddress(request);
        const admitted = this.admission.take(address);
        if (admitted !== 'admitted') {
          if (admitted === 'first_refusal') {
            this.log.warn(
              `Refused WebSockets from ${address}: it already holds ${this.admission.limit}. If many users share that address, raise NANGO_WEBSOCKETS_PER_ADDRESS (or set NANGO_TRUST_PROXY for the proxy in front).`,
            );
          }
          return ws.close(POLICY_VIOLATION, this.admission.limitReason);
        }
        ws.once('close', () => this.admission.release(address));
        this.register(ws);
      });
    });
    this.pingTimer = setInterval(() => {
      for (const ws of this.sockets.values()) ws.ping();
    }, PING_INTERVAL_MS);
    this.pingTimer.unref();
  }

  async deliver(wsClientId: string, message: FlowMessage): Promise<void> {
    if (this.sendLocally(wsClientId, message)) return;
    await this.knex.raw('SELECT pg_notify(?, ?)', [CHANNEL, JSON.stringify({ wsClientId, message })]);
  }

  /**
   * Closes every popup socket with SERVICE_RESTART when the process stops. The SDKs' auth() neither resolves nor
   * rejects on a closed socket; the flow itself finishes on whichever process the provider calls back (its state
   * is in PostgreSQL), and the callback page posts the result to the window that opened the popup.
   */
  async closeForRestart(): Promise<void> {
    const open = [...this.sockets.values()];
    await Promise.all(
      open.map(
        (ws) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              ws.terminate();
              resolve();
            }, CLOSE_HANDSHAKE_MS);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(SERVICE_RESTART, RESTART_REASON);
          }),
      ),
    );
  }

  close(): void {
    clearInterval(this.pingTimer);
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    this.wss.close();
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

  private deliverNotified(payload: string): void {
    try {
      const { wsClientId, message } = JSON.parse(payload) as { wsClientId: string; message: FlowMessage };
      this.sendLocally(wsClientId, message);
    } catch {
      this.log.warn('Ignored a malformed OAuth result notification.');
    }
  }
}

/** Answers a handshake with a plain 403 instead of upgrading it: a browser's WebSocket then fails at once. */
function refuseHandshake(socket: Duplex, message: string): void {
  const body = `${message}\n`;
  socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
