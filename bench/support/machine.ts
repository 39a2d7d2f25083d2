import os from 'node:os';

/** What the figures were taken on, written beside every table so runs can be compared. */
export interface MachineContext {
  date: string;
  node: string;
  cores: number;
  cpu: string;
  /** 1-minute load average when the benchmark started: other work on the machine skews the figures. */
  loadAverage: number;
}

export function machineContext(): MachineContext {
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    node: process.version,
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    loadAverage: os.loadavg()[0] ?? 0,
  };
}

export function describeContext(context: MachineContext, durations: string, loadGenerator = 'autocannon'): string {
  return (
    `_${context.date}, Node ${context.node}, ${context.cores} cores (\`os.availableParallelism()\`, ${context.cpu}), ` +
    `load average ${context.loadAverage.toFixed(2)} at the start. ${durations} ` +
    `The load generator (${loadGenerator}) runs on the same machine as the server and PostgreSQL and competes with them for those cores._`
  );
}
