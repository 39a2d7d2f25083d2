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
  /** The undo under way, named in the line a stop past its deadline writes. */
  private undoing: string | undefined;
  private readonly stepWaitMs: number;
  private readonly stopDeadlineMs: number;
  private readonly exit: (code: number) => void;

  /**
   * `stopDeadlineMs`: a stop still running this long after its undos began (an undo waiting on a database that stopped
   * answering) logs one line naming what it waited for and exits with code 1, so a stop never hangs until the
   * orchestrator's kill.
   */
  constructor(
    private readonly log: Logger,
    options: { stepWaitMs?: number; stopDeadlineMs?: number; exit?: (code: number) => void } = {},
  ) {
    this.stepWaitMs = options.stepWaitMs ?? 10_000;
    this.stopDeadlineMs = options.stopDeadlineMs ?? 9_000;
    this.exit = options.exit ?? ((code) => process.exit(code));
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
    // From here on (a start-up step under way was waited for, bounded by stepWaitMs) the stop has its deadline.
    const deadline = setTimeout(() => {
      this.log.error(
        `Stopping did not finish within ${this.stopDeadlineMs / 1000} s (still ${this.undoing ? `closing the ${this.undoing}` : 'waiting for a start-up step'}; a database that stopped answering does this); exiting now with code 1.`,
      );
      this.exit(1);
    }, this.stopDeadlineMs);
    let code = signal ? 0 : 1;
    for (const { name, undo } of this.undos.reverse()) {
      this.undoing = name;
      try {
        await undo();
      } catch (error) {
        this.log.error({ err: error }, `Error while stopping (${name}).`);
        code = 1;
      }
    }
    clearTimeout(deadline);
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
