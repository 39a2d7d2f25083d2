/** A markdown table; cells are written as given. */
export function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value).toString();
}

export function rate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function percent(ratio: number): string {
  return Number.isFinite(ratio) ? `${Math.round(ratio * 100)} %` : '–';
}

export function mib(value: number): string {
  return `${value.toFixed(0)} MiB`;
}

export function verdict(met: boolean): string {
  return met ? '**met**' : '**not met**';
}
