import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger.js';

/** What `GET /ready` asks: the server has been told to stop, so a load balancer should send it nothing new. */
export class ServerLifecycle {
  private since: Date | undefined;

  get stopping(): boolean {
    return this.since !== undefined;
  }

  markStopping(): void {
    this.since ??= new Date();
  }
}

export interface DrainTimes {
  /** After the stop signal, how long the server keeps serving while `/ready` answers 503 (NANGO_SHUTDOWN_GRACE_SECONDS). */
  graceMs: number;
  /** After it stops listening, how long requests it accepted may take before their connections are cut. */
  requestsMs: number;
  /** After it stops listening, how long popup WebSockets stay open for a result that another process may still publish. */
  popupsMs: number;
}

/** The defaults besides the grace: a stop with the default grace of 2 s ends within about 7 s, inside Docker's 10. */
export const DRAIN_TIMES = { requestsMs: 5_000, popupsMs: 3_000 } as const;

/** A connection that has sent nothing this long after it was accepted is a preconnect (or a slow client), not a request. */
const SILENT_CONNECTION_MS = 1_000;
const SWEEP_MS = 50;

/** Where a connection's Tracked state lives: on its socket. */
const TRACKED = Symbol('custody.drainTracked');
type TrackedSocket = net.Socket & { [TRACKED]?: Tracked };

interface Tracked {
  acceptedAt: number;
  requests: number;
  active: number;
  /** bytesRead when the last request ended: more since then is the next request arriving. */
  readAtIdle: number;
}

/**
 * Stops an HTTP server without dropping what it accepted. Closing the Fastify app at once would answer 503
 * to every request that arrives after closing began, even on a connection accepted before, which a proxy in
 * front cannot retry for a POST; and popup WebSockets would hold the close open until the orchestrator's kill.
 * So the drain goes in steps and tracks connections itself:
 * 1. the lifecycle says "stopping" (`/ready` → 503) while the server goes on serving for `graceMs`, so load
 *    balancers that poll readiness stop sending; every answer from now on closes its connection;
 * 2. the listening socket closes (new connections are refused: a proxy tries another replica);
 * 3. connections finish: kept-alive ones close after their current answer, an idle one is closed only while
 *    nothing of a next request has arrived on it, a fresh one gets its request read and answered, and one that
 *    stays silent is closed after a second; whatever is still running after `requestsMs` is cut;
 * 4. popup WebSockets stay open up to `popupsMs` (an OAuth result arriving meanwhile reaches them), then the
 *    app's close hooks close them with a code the SDKs ignore (ResultDelivery.closeForRestart), and the app
 *    closes with nothing left to answer.
 */
export class HttpDrain {
  /**
   * The connections accepted and not closed, each with its Tracked state on the socket itself. A Set of sockets
   * rather than a Map from socket to state: measured under load (`GET /health`, `--trace-gc-nvp`), with the Map
   * V8 moved about 600 KB into the old generation at every young-generation collection and each took about 3 ms;
   * with the Set it moves almost nothing and each takes 0.5 ms, as without any tracking.
   */
  private readonly connections = new Set<TrackedSocket>();
  private readonly upgraded = new Set<Duplex>();
  private draining = false;

  constructor(
    private readonly server: http.Server,
    private readonly lifecycle: ServerLifecycle,
    private readonly log: Logger,
  ) {
    server.on('connection', (socket: TrackedSocket) => {
      socket[TRACKED] = { acceptedAt: Date.now(), requests: 0, active: 0, readAtIdle: 0 };
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
    // First, before the app's handler answers: the header must be set before the answer is written.
    server.prependListener('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
      const socket = request.socket as TrackedSocket;
      const tracked = this.connections.has(socket) ? socket[TRACKED] : undefined;
      if (tracked) {
        tracked.requests++;
        tracked.active++;
        response.once('close', () => {
          tracked.active--;
          tracked.readAtIdle = request.socket.bytesRead;
        });
      }
      if (this.lifecycle.stopping && !response.headersSent) response.setHeader('connection', 'close');
    });
    server.prependListener('upgrade', (_request: http.IncomingMessage, socket: Duplex) => {
      // The connection's own socket: Node types an upgrade's as a Duplex.
      this.connections.delete(socket as TrackedSocket);
      this.upgraded.add(socket);
      socket.once('close', () => this.upgraded.delete(socket));
    });
  }

  /** Runs steps 1–3 and the wait of step 4; `closeApp` then closes the app (its hooks close the popups). */
  async drain(times: DrainTimes, closeApp: () => Promise<void>): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.lifecycle.markStopping();
    if (times.graceMs > 0) {
      this.log.info(`GET /ready now answers 503 (stopping); still serving for ${times.graceMs / 1000} s so load balancers stop sending (NANGO_SHUTDOWN_GRACE_SECONDS).`);
      await sleep(times.graceMs);
    }
    // net.Server's close: the listening socket only. http.Server's would also close idle kept-alive connections at
    // once, racing a request a client may be sending on one; the sweep below closes them only while nothing arrived.
    const listenerClosed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
    const closedAt = Date.now();
    const popupCount = this.upgraded.size;
    this.sweep(closedAt);
    await Promise.all([this.requestsFinished(closedAt, times.requestsMs), this.popupsClosed(closedAt + times.popupsMs)]);
    if (popupCount > 0 && this.upgraded.size > 0) {
      this.log.info(`Closing ${this.upgraded.size} OAuth popup WebSocket(s) still open; their flows finish on any other process, and the popup page reports the result.`);
    }
    await closeApp();
    await listenerClosed;
  }

  private async requestsFinished(closedAt: number, waitMs: number): Promise<void> {
    while (this.connections.size > 0 && Date.now() < closedAt + waitMs) {
      await sleep(SWEEP_MS);
      this.sweep(Date.now());
    }
    if (this.connections.size === 0) return;
    const active = [...this.connections].filter((socket) => (socket[TRACKED]?.active ?? 0) > 0).length;
    this.log.warn(`${active} request(s) still under way ${waitMs / 1000} s after the server stopped listening; closing their connections.`);
    for (const socket of this.connections) socket.destroy();
  }

  private async popupsClosed(deadline: number): Promise<void> {
    while (this.upgraded.size > 0 && Date.now() < deadline) await sleep(SWEEP_MS);
  }

  /** Closes the connections no request is on, nor arriving on. */
  private sweep(now: number): void {
    for (const socket of this.connections) {
      const tracked = socket[TRACKED];
      if (!tracked || tracked.active > 0) continue;
      const bytesRead = socket.bytesRead;
      const idleKeptAlive = tracked.requests > 0 && bytesRead === tracked.readAtIdle;
      const silent = tracked.requests === 0 && bytesRead === 0 && now - tracked.acceptedAt >= SILENT_CONNECTION_MS;
      if (idleKeptAlive || silent) socket.destroy();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
