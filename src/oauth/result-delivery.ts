import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Knex } from 'knex';
import { WebSocketServer, type WebSocket } from 'ws';
import { SCHEMA } from '../db/database.js';
import type { NotificationListener } from '../db/notification-listener.js';
import type { Logger } from '../logger.js';
import { POLICY_VIOLATION, type SocketAdmission } from './socket-admission.js';

/** What the frontend SDKs wait for on their WebSocket (both generations read these fields). */
export type FlowMessage =
  | { message_type: 'success'; provider_config_key: string; connection_id: string; is_pending: boolean }
  | { message_type: 'error'; provider_config_key: string; connection_id: string; error_type: string; error_desc: string };

const CHANNEL = 'custody_oauth_results';
/** Results kept for a process that cannot listen (migration 20260215). */
const RESULTS = `${SCHEMA}._custody_oauth_results`;
const PING_INTERVAL_MS = 25_000;
/** How often a process that cannot listen looks for the results of the sockets it holds. */
const POLL_INTERVAL_MS = 500;
/** A kept result nobody took within this long belongs to a page that is gone. */
const RESULT_LIFETIME = '1 hour';
/** RFC 6455's registered code for "the server is restarting; try again later". Neither SDK generation acts on a close code. */
export const SERVICE_RESTART = 1012;
const RESTART_REASON = 'The server is restarting. Finish signing in: the popup page shows the result.';
/** How long a closing handshake may take before the socket is cut. */
const CLOSE_HANDSHAKE_MS = 1_000;

/**
 * Tells the page that opened a popup how its OAuth flow ended. The page holds a WebSocket to one server
 * process; the provider may send the callback to another. A process that does not hold the socket
 * publishes the result with PostgreSQL NOTIFY and keeps it in a table; the process that holds the socket
 * delivers it when the notification arrives, or, while it cannot listen (behind a transaction pooler without a
 * direct connection, or while its listener reconnects), when it finds the row by polling.
 */
export class ResultDelivery {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private pingTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly knex: Knex,
    private readonly notifications: NotificationListener,
    private readonly log: Logger,
    private readonly admission: SocketAdmission,
  ) {
    notifications.on(CHANNEL, (payload) => this.deliverNotified(payload));
    // A result published while the listener was down is only in the table: look once it listens again.
    notifications.onListening((listening) => {
      if (listening) void this.poll();
    });
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
    this.pollTimer = setInterval(() => {
      if (!this.notifications.listening) void this.poll();
    }, POLL_INTERVAL_MS);
    this.pollTimer.unref();
  }

  async deliver(wsClientId: string, message: FlowMessage): Promise<void> {
    if (this.sendLocally(wsClientId, message)) return;
    // One statement: the row for a holder that polls, the notification (sent at commit) for one that listens.
    await this.knex.raw(
      `WITH kept AS (INSERT INTO ${RESULTS} (ws_client_id, message) VALUES (?, ?::jsonb) ON CONFLICT (ws_client_id) DO NOTHING) SELECT pg_notify(?, ?)`,
      [wsClientId, JSON.stringify(message), CHANNEL, JSON.stringify({ wsClientId, message })],
    );
  }

  /** Kept results of pages that are gone; at start and now and then. */
  async deleteAbandoned(): Promise<void> {
    await this.knex.raw(`DELETE FROM ${RESULTS} WHERE created_at < now() - interval '${RESULT_LIFETIME}'`);
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
    clearInterval(this.pollTimer);
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
    let notified: { wsClientId: string; message: FlowMessage };
    try {
      notified = JSON.parse(payload) as { wsClientId: string; message: FlowMessage };
    } catch {
      this.log.warn('Ignored a malformed OAuth result notification.');
      return;
    }
    if (!this.sendLocally(notified.wsClientId, notified.message)) return;
    void this.knex.raw(`DELETE FROM ${RESULTS} WHERE ws_client_id = ?`, [notified.wsClientId]).catch((error: unknown) =>
      this.log.debug({ err: error }, 'A delivered OAuth result could not be removed; it is removed within the hour.'),
    );
  }

  /** Takes the kept results of the sockets this process holds and delivers them. */
  private async poll(): Promise<void> {
    if (this.polling || this.sockets.size === 0) return;
    this.polling = true;
    try {
      const result = await this.knex.raw<{ rows: { ws_client_id: string; message: FlowMessage }[] }>(
        `DELETE FROM ${RESULTS} WHERE ws_client_id = ANY(?::text[]) RETURNING ws_client_id, message`,
        [[...this.sockets.keys()]],
      );
      for (const row of result.rows) this.sendLocally(row.ws_client_id, row.message);
    } catch (error) {
      // The database is away: the next poll tries again, and the page's popup shows the result itself.
      this.log.debug({ err: error }, 'Looking for OAuth results failed; trying again.');
    } finally {
      this.polling = false;
    }
  }
}

/** Answers a handshake with a plain 403 instead of upgrading it: a browser's WebSocket then fails at once. */
function refuseHandshake(socket: Duplex, message: string): void {
  const body = `${message}\n`;
  socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
