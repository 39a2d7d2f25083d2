/** Progress on stderr, so a long run shows where it is; the figures go to the markdown file. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
