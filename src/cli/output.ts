/** Text output: aligned tables for lists, key/value blocks for single items, masked secrets, and JSON for scripts. */

/** Where a command writes; a test or an embedding program may capture it. */
export interface Output {
  /** Writes text to stdout (a newline is added). */
  line(text: string): void;
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => unknown;
}

/** An aligned table: upper-case headers, two spaces between columns, no trailing spaces. */
export function formatTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = [columns.map((column) => column.header.toUpperCase()), ...rows.map((row) => columns.map((column) => displayValue(column.value(row))))];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => width(line[index] ?? ''))));
  return cells
    .map((line) =>
      line
        .map((cell, index) => (index === line.length - 1 ? cell : pad(cell, widths[index] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `Label:  value` lines with the values aligned; entries whose value is undefined are left out. */
export function formatBlock(entries: readonly (readonly [label: string, value: unknown])[]): string {
  const shown = entries.filter(([, value]) => value !== undefined);
  const labelWidth = Math.max(0, ...shown.map(([label]) => width(label) + 1));
  return shown.map(([label, value]) => `${pad(`${label}:`, labelWidth)}  ${displayValue(value)}`.trimEnd()).join('\n');
}

const MASK = '••••';

/** A secret shown as its first three characters and a mask (`sec••••`); short secrets are masked whole. */
export function maskSecret(secret: unknown): string {
  if (secret === null || secret === undefined || secret === '') return '-';
  const text = typeof secret === 'string' ? secret : JSON.stringify(secret);
  return text.length >= 8 ? `${text.slice(0, 3)}${MASK}` : MASK;
}

/** The server's JSON, indented, for scripts (`--json`). */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** An ISO timestamp as `2025-01-31 12:00:00 UTC`; anything else as it is. */
export function formatDate(value: unknown): string {
  if (typeof value !== 'string' && !(value instanceof Date)) return displayValue(value);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return displayValue(value);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** One cell or block value: text as it is (control characters escaped, so server data cannot drive the terminal), objects as compact JSON. */
export function displayValue(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return escapeControlCharacters(text);
}

/** Collapses a message from the server to one printable line. */
export function oneLine(text: string): string {
  return escapeControlCharacters(text.replace(/\s*[\r\n]+\s*/g, ' ').trim());
}

function escapeControlCharacters(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number): string {
  return text + ' '.repeat(Math.max(0, size - width(text)));
}
