import pg from 'pg';
import type { Logger } from '../logger.js';
import { closeConnectionNow } from './query-timeouts.js';

const RECONNECT_DELAY_MS = 1_000;
const CLOSE_WAIT_MS = 1_000;

/**
 * One LISTEN connection per process, shared by everything that learns of other processes' work through
 * PostgreSQL NOTIFY (OAuth results, connection changes). It connects in the background and, when it loses
 * the database, connects again every second; while it is down, notifications are missed, so subscribers are
 * told (`onListening(false)`) and must not trust anything they would otherwise have been told about.
 */
export class NotificationListener {
  private readonly channels = new Map<string, (payload: string) => void>();
  private readonly listeningHandlers: ((listening: boolean) => void)[] = [];
  private client: pg.Client | undefined;
  private started = false;
  private closed = false;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly connection: pg.ClientConfig | undefined,
    private readonly log: Logger,
  ) {}

  /** True while notifications are being received. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Subscribes before `start`; channel names are identifiers of our own, never user input. */
  on(channel: string, handler: (payload: string) => void): void {
    if (this.started) throw new Error('Subscribe to notifications before the listener starts.');
    if (!/^[a-z_]+$/.test(channel)) throw new Error(`"${channel}" is not a channel name this listener accepts.`);
    this.channels.set(channel, handler);
  }

  /** Told true once every channel is listened to, false when the connection is lost (and on close). */
  onListening(handler: (listening: boolean) => void): void {
    this.listeningHandlers.push(handler);
  }

  /**
   * Starts listening in the background: a database that is slow to answer at start (a container network
   * still settling) must not hold up or fail the start. Without connection settings (no database of its own)
   * it never listens.
   */
  start(): void {
    if (this.started || !this.connection || this.channels.size === 0) return;
    this.started = true;
    this.connect().catch((error: unknown) => {
      this.log.warn(`The database notification listener could not connect yet (${(error as Error).message}); retrying.`);
      this.scheduleReconnect();
    });
  }

  /**
   * Resolves once every notification committed before the call has been handled. PostgreSQL delivers a
   * session's pending notifications before it reports the end of that session's next statement, so one round
   * trip on the listening connection is the barrier. Resolves at once when not listening.
   */
  sync(): Promise<void> {
    const client = this.client;
    if (!client) return Promise.resolve();
    // One statement at a time on the connection (pg refuses to pipeline them): each caller's round trip starts
    // after the previous one ended, so it still starts after the call.
    this.syncing = this.syncing.then(() => client.query('SELECT 1')).then(
      () => undefined,
      () => undefined,
    );
    return this.syncing;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.lost();
    if (!client) return;
    // A database that stopped answering never acknowledges the goodbye: a stop waits a moment for it, not for ever.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WAIT_MS)));
    const ended = client.end().then(
      () => 'ended' as const,
      () => 'ended' as const,
    );
    if ((await Promise.race([ended, late])) === 'late') closeConnectionNow(client);
    clearTimeout(timer);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 10_000 });
    client.on('notification', (notification) => {
      const handler = this.channels.get(notification.channel);
      if (handler && notification.payload !== undefined) handler(notification.payload);
    });
    let dropped = false;
    const drop = (reason: string): void => {
      if (dropped) return;
      dropped = true;
      if (this.client !== client) return;
      this.log.warn(`The database notification listener lost its connection (${reason}); reconnecting.`);
      this.lost();
      void client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on('error', (error) => drop(error.message));
    client.on('end', () => drop('the connection ended'));
    try {
      await client.connect();
      for (const channel of this.channels.keys()) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      dropped = true;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    for (const handler of this.listeningHandlers) handler(true);
  }

  private lost(): void {
    if (this.client === undefined) return;
    this.client = undefined;
    for (const handler of this.listeningHandlers) handler(false);
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    setTimeout(() => {
      if (this.closed) return;
      this.connect().catch(() => this.scheduleReconnect());
    }, RECONNECT_DELAY_MS).unref();
  }
}
