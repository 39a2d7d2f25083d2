/**
 * Everything a benchmark starts is registered here and stopped in reverse order, whether the benchmark
 * finished, threw, or the run was interrupted (Ctrl-C, SIGTERM).
 */
type Disposer = () => Promise<unknown> | unknown;

export class Cleanup {
  private readonly stack: { label: string; dispose: Disposer }[] = [];
  private running: Promise<void> | undefined;

  add(label: string, dispose: Disposer): void {
    this.stack.push({ label, dispose });
  }

  /** Runs every disposer once, newest first; a failing one is reported and does not stop the others. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
        try {
          await entry.dispose();
        } catch (error) {
          process.stderr.write(`bench: cleanup of ${entry.label} failed: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
    })();
    return this.running;
  }
}

const active = new Set<Cleanup>();
let interrupted = false;

function onSignal(name: NodeJS.Signals): void {
  // A second signal means "now": the exit guard kills what is left synchronously.
  if (interrupted) process.exit(1);
  interrupted = true;
  process.stderr.write(`bench: ${name} received, stopping everything that was started…\n`);
  void Promise.all([...active].map((cleanup) => cleanup.run())).finally(() => process.exit(name === 'SIGINT' ? 130 : 143));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

/** Runs one benchmark with a fresh cleanup stack that is emptied however the benchmark ends. */
export async function withCleanup<T>(work: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup();
  active.add(cleanup);
  try {
    return await work(cleanup);
  } finally {
    await cleanup.run();
    active.delete(cleanup);
  }
}
