/** One sample of the Prometheus text exposition format: `name{labels} value`. */
export interface PrometheusSample {
  labels: Record<string, string>;
  value: number;
}

/** A small reader of the Prometheus text exposition format: `# HELP`, `# TYPE` and `name{labels} value` lines. */
export function parsePrometheusText(text: string): Map<string, PrometheusSample[]> {
  const samples = new Map<string, PrometheusSample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    // Values are Go floats, read case-insensitively: prom-client writes NaN as "Nan" (a gauge with no samples yet).
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|nan|[+-]?inf)$/i.exec(line);
    if (!match) throw new Error(`Not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    const list = samples.get(match[1] ?? '') ?? [];
    list.push({ labels, value: sampleNumber(match[3] ?? '') });
    samples.set(match[1] ?? '', list);
  }
  return samples;
}

/** The value of the sample of `name` whose labels are exactly `labels`; 0 when the counter has not been touched yet. */
export function sampleValue(samples: Map<string, PrometheusSample[]>, name: string, labels: Record<string, string>): number {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.get(name)?.find((sample) => JSON.stringify(Object.entries(sample.labels).sort()) === wanted)?.value ?? 0;
}

function sampleNumber(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower.endsWith('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}
