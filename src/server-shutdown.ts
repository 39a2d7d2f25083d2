import type { FastifyInstance } from 'fastify';
import type { Logger } from './logger.js';

/**
 * SIGTERM/SIGINT handling from the first moment of the process, not only once it listens: a stop asked for
 * while the embedded PostgreSQL starts or migrations run waits for that step (bounded), then undoes what was
 * started, newest first — so a Ctrl-C during a first start never leaves a database running in the background.
 */
export class ServerShutdown {
  private readonly undos: { name: string; undo: () => Promise<void> }[] = [];
  private readonly steps = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(
    private readonly log: Logger,
    private readonly stepWaitMs = 10_000,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {
    process.on('SIGTERM', (signal) => void this.stop(signal));
    process.on('SIGINT', (signal) => void this.stop(signal));
  }

  /**
   * Runs a start-up step; once it has succeeded, `undo` is what a stop runs for it. After a stop was asked
   * for, no further step starts: the returned promise never settles and the stop ends the process.
   */
  async step<T>(name: string, run: () => Promise<T>, undo: (result: T) => Promise<void>): Promise<T> {
    if (this.stopping) return new Promise<T>(() => undefined);
    const work = run();
    this.steps.add(work);
    try {
      const result = await work;
      this.undos.push({ name, undo: () => undo(result) });
      return result;
    } finally {
      this.steps.delete(work);
    }
  }

  /**
   * Something the server cannot do without is gone for good (the embedded database died again and again):
   * stop as for SIGTERM, but exit with code 1, so a supervisor (systemd, Docker's restart policy) starts the
   * process afresh and `npm start` users see that it stopped.
   */
  async fail(reason: string): Promise<void> {
    if (this.stopping) return;
    this.log.fatal(`${reason} The server stops now (exit code 1); start it again once the cause is fixed.`);
    await this.stop(undefined);
  }

  private async stop(signal: NodeJS.Signals | undefined): Promise<void> {
    if (this.stopping) {
      this.log.warn(`${signal ?? 'A stop'} received again; exiting without waiting.`);
      this.exit(1);
      return;
    }
    this.stopping = true;
    if (signal) this.log.info(`${signal} received: finishing in-flight requests, then stopping.`);
    if (this.steps.size > 0) await this.waitForSteps();
    let code = signal ? 0 : 1;
    for (const { name, undo } of this.undos.reverse()) {
      try {
        await undo();
      } catch (error) {
        this.log.error({ err: error }, `Error while stopping (${name}).`);
        code = 1;
      }
    }
    if (code === 0) this.log.info('Stopped cleanly.');
    else if (!signal) this.log.info('Stopped.');
    this.exit(code);
  }

  /** A step under way (a database starting) registers its undo when it ends; a stuck one is not waited for forever. */
  private async waitForSteps(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.stepWaitMs)));
    const settled = Promise.allSettled([...this.steps]).then(() => 'settled' as const);
    if ((await Promise.race([settled, timeout])) === 'timeout') {
      this.log.warn(`A start-up step did not finish within ${this.stepWaitMs / 1000} s; stopping without it.`);
    }
    clearTimeout(timer);
  }
}

/**
 * Stops taking connections and lets the requests under way finish. Node closes idle keep-alive connections
 * only once, when closing starts; a connection whose request ends later would stay open until its keep-alive
 * timeout, so idle ones are swept until the server is closed. After `graceMs` the rest are cut: an orchestrator
 * kills a process that takes longer anyway (Docker after 10 s).
 */
export async function drainHttpServer(app: FastifyInstance, graceMs: number, log: Logger): Promise<void> {
  const sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
  const cutoff = setTimeout(() => {
    log.warn(`Requests still under way after ${graceMs / 1000} s of draining; closing their connections.`);
    app.server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweeper);
    clearTimeout(cutoff);
  }
}
